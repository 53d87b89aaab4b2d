package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPackagedPublicRendezvous follows README's "A public rendezvous" as written: install the
// rendezvous's .deb, make the edit the README's comment shows in /etc/deskport/rendezvous.toml
// (acme, turn, public-ip), and start the packaged unit. It runs the package's files (extracted
// with dpkg-deb) as that unit would: as an unprivileged transient user whose home is "/" (what
// systemd gives a DynamicUser), with the unit's ambient capabilities and STATE_DIRECTORY, in a
// network namespace of its own so that ports 443, 80 and 3478 are free.
//
// It checks that the service listens on :443 (and :80 for ACME HTTP-01), which needs the
// unit's CAP_NET_BIND_SERVICE, and that ACME keeps its account key in the state directory:
// the first TLS handshake for the name makes autocert create the key before it talks to the
// CA (which it cannot reach here).
func TestPackagedPublicRendezvous(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	if os.Geteuid() != 0 {
		t.Skip("running a unit's command as its user needs root (CI runs as root)")
	}
	need(t, "dpkg-deb", "ip", "setpriv", "curl")

	// The README's edit of the file, taken from the README itself.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^sudo editor /etc/deskport/rendezvous\.toml +# (.+)$`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README no longer shows the edit of /etc/deskport/rendezvous.toml; update this test with it")
	}
	edits := regexp.MustCompile(`, (?:[a-z-]+ = )`).ReplaceAllStringFunc(string(m[1]), func(s string) string { return "\n" + s[2:] })

	dir := packages(t)
	// The service's user must reach the files: not under t.TempDir, whose parent is 0700.
	root, err := os.MkdirTemp("", "deskport-reach-pkg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(dir, "deskport-rendezvous_"+testVersion+"_"+debArch(t)+".deb")
	sh(t, "dpkg-deb", "-x", deb, root)

	unitText, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/deskport-rendezvous.service"))
	if err != nil {
		t.Fatal(err)
	}
	var execStart []string
	var caps []string
	for _, line := range strings.Split(string(unitText), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "ExecStart":
			execStart = strings.Fields(v)
		case "AmbientCapabilities":
			for _, c := range strings.Fields(v) {
				caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
		}
	}
	if len(execStart) != 3 || execStart[1] != "--config" || execStart[2] != "/etc/deskport/rendezvous.toml" {
		t.Fatalf("the unit's ExecStart is %q", execStart)
	}

	// The admin's edit, appended to the packaged file as an editor would leave it.
	conf, err := os.ReadFile(filepath.Join(root, "etc/deskport/rendezvous.toml"))
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(root, "etc/deskport/rendezvous.toml")
	if err := os.WriteFile(confPath, append(conf, []byte("\n"+edits+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, "var/lib/deskport-rendezvous")
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	ns := fmt.Sprintf("reach-pkg-%d", os.Getpid())
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh(t, "ip", "-n", ns, "link", "set", "lo", "up")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"netns", "exec", ns, "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}
	if len(caps) > 0 {
		c := strings.Join(caps, ",")
		args = append(args, "--inh-caps", c, "--ambient-caps", c)
	}
	args = append(args, "--", filepath.Join(root, execStart[0]), "--config", confPath)
	cmd := exec.CommandContext(ctx, "ip", args...)
	// systemd's environment for a DynamicUser service: its home is "/", and StateDirectory=.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "USER=deskport-rendezvous", "STATE_DIRECTORY=" + state}
	cmd.Dir = "/"
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	waitOut := func(what string, re *regexp.Regexp) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			if re.Match(out.Bytes()) {
				return
			}
			select {
			case <-exited:
				t.Fatalf("the packaged rendezvous exited before %s, with README's edit of its config:\n%s\nits output:\n%s", what, edits, out.Bytes())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the packaged rendezvous never %s:\n%s", what, out.Bytes())
			}
		}
	}
	waitOut("listened on :443", regexp.MustCompile(`rendezvous listening.*"addr":"(\[::\]|0\.0\.0\.0)?:443"`))

	// The first handshake for the name makes autocert create its account; it cannot reach
	// Let's Encrypt from here, so the handshake itself fails.
	account := filepath.Join(state, "acme", "acme_account+key")
	for deadline := time.Now().Add(20 * time.Second); ; {
		exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-sk", "--max-time", "3",
			"--resolve", "rv.example.com:443:127.0.0.1", "https://rv.example.com/healthz").Run()
		if _, err := os.Stat(account); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ACME account key in the service's state directory (%s) after a handshake; a DynamicUser's home (/) is read-only to it. Its output:\n%s", account, out.Bytes())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that a process writes and the test reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
