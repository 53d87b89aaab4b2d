package e2e

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
)

// TestDemo runs `make demo`'s script as the README's first section tells a newcomer to, on a
// machine without a display: it must print a link and a one-time code that open the virtual
// desktop in a browser (with control, as the README says), save the native viewer's
// screenshot, print a port-forward command that the demo's host allows — it printed one the
// host refused ("this session was not granted port forwarding") — and leave nothing running
// after Ctrl-C.
func TestDemo(t *testing.T) {
	for _, tool := range []string{"bash", "Xvfb", "xclock", "xterm"} {
		testenv.LookPath(t, tool)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shot := filepath.Join(dir, "demo-screenshot.png")
	demo := startFull(t, nil, []string{"DISPLAY=", "BIN=" + binDir, "LISTEN=127.0.0.1:0", "SHOT=" + shot}, nil,
		testenv.LookPath(t, "bash"), filepath.Join(root, "scripts", "demo.sh"))
	link := demo.waitFor(`^\s+Open\s+(http://127\.0\.0\.1:\d+/#[a-z2-7]+)$`, 60*time.Second)[1]
	code := demo.waitFor(`and enter the one-time code\s+([A-Z0-9]{4}-[A-Z0-9]{4})$`, 5*time.Second)[1]
	fwd := demo.waitFor(`(\S+/viewer forward .*)$`, 5*time.Second)[1]
	demo.waitFor(`Press Ctrl-C to stop`, 5*time.Second)
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Errorf("the demo saved no screenshot at %s: %v", shot, err)
	}

	// The link and the code, in a browser: the virtual desktop plays and takes input.
	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	b.do("wait-input")

	// The forward command the demo printed, with a port of the system's choosing.
	args := strings.Fields(fwd)
	for i, a := range args {
		if a == "-L" && i+1 < len(args) {
			if _, rest, ok := strings.Cut(args[i+1], ":"); ok {
				args[i+1] = "127.0.0.1:0:" + rest
			}
		}
	}
	v := start(t, args[0], args[1:]...)
	local := v.waitFor(`forwarding (\S+) -> 127\.0\.0\.1:22 on the host`, 60*time.Second)[1]
	c, err := net.DialTimeout("tcp", local, 5*time.Second)
	if err != nil {
		t.Fatalf("the demo's forward does not listen: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if sshd, err := net.DialTimeout("tcp", "127.0.0.1:22", time.Second); err == nil {
		// An ssh server runs here: its banner comes through the forward.
		sshd.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "SSH-") {
			t.Fatalf("through the demo's forward: %q, %v; want an ssh banner\n%s", line, err, v.output())
		}
	} else {
		// No ssh server: the host was allowed to try, and says it could not connect.
		v.waitFor(`connection refused`, 20*time.Second)
	}
	if out := v.output(); strings.Contains(out, "not granted") || strings.Contains(out, "not allowed") {
		t.Fatalf("the demo's host refused its own forward command:\n%s", out)
	}
	v.stop()

	// Ctrl-C: the script, the host, Xvfb and the programs in it all end.
	family := descendants(demo.cmd.Process.Pid)
	if len(family) < 3 {
		t.Fatalf("the demo runs %d processes (%v); want at least the host, Xvfb and the programs in it", len(family), family)
	}
	demo.cmd.Process.Signal(syscall.SIGINT)
	if err := demo.wait(30 * time.Second); err != nil && !strings.Contains(err.Error(), "exit status") && !strings.Contains(err.Error(), "signal") {
		t.Fatalf("the demo did not end after Ctrl-C: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for _, pid := range family {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				t.Errorf("left running after Ctrl-C: %d %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
				syscall.Kill(pid, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// descendants lists the processes below pid (children, their children, ...).
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			if pp, err := strconv.Atoi(fields[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
