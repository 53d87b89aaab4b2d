package packaging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testVersion is the version the test packages carry; the installed binaries must report it.
const testVersion = "1.2.3"

var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// packages builds the .deb and .rpm of host, viewer and rendezvous once per test binary (the
// binaries are built once for both formats) and returns the directory that holds them.
func packages(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "deskport-packages")
		if built.err != nil {
			return
		}
		c := exec.Command("go", "run", ".", "-out", built.dir, "-version", testVersion, "-formats", "deb,rpm", "-archives", "")
		c.Dir = "build"
		built.out, built.err = c.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("packaging/build: %v\n%s", built.err, built.out)
	}
	return built.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// names are the three packages, in the order they are installed.
var names = []string{"deskport-rendezvous", "deskport-host", "deskport-viewer"}

// leftovers are the paths outside the packages' file lists that the packages or their services
// create: purge must remove every one of them.
var leftovers = []string{
	"/etc/deskport", "/var/lib/deskport", "/var/log/deskport",
	"/var/lib/private/deskport-rendezvous", "/var/lib/deskport-rendezvous",
}

// TestInstallDeb installs the built .debs on this machine with dpkg -i, runs the rendezvous
// and the host the way their installed units say (ExecStart, User, Environment, the state and
// log directories, Type=notify through a notify socket of the test's), connects the installed
// viewer through them and forwards a payload byte-exact, then purges the packages and checks
// that nothing is left but the deskport account, which packaging keeps on purpose
// (docs/service.md). A t.Cleanup purges whatever happens.
func TestInstallDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs packages")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing a package needs root (CI runs as root)")
	}
	need(t, "dpkg", "dpkg-deb", "dpkg-query")
	// Registered first, so it runs after every other cleanup (services stopped, purge done).
	t.Cleanup(func() { goleak.VerifyNone(t) })
	unlock := lockMachine(t)
	defer unlock()
	for _, n := range names {
		if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", n).Output(); err == nil && strings.Contains(string(out), "installed") {
			t.Skipf("%s is installed on this machine (%s); not touching a real installation", n, out)
		}
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err == nil {
			t.Skipf("%s exists on this machine; not touching a real installation", p)
		}
	}
	if _, err := os.Stat("/var/lib/private"); err != nil {
		// Made for the rendezvous's DynamicUser state below, as systemd would; not the packages'.
		t.Cleanup(func() { os.Remove("/var/lib/private") })
	}

	dir := packages(t)
	var debs []string
	for _, n := range names {
		debs = append(debs, filepath.Join(dir, n+"_"+testVersion+"_"+debArch(t)+".deb"))
	}
	installed := map[string][]string{} // package → its files, from dpkg -L
	t.Cleanup(func() {
		// Whatever happened, leave the machine as it was (but for the account).
		if out, err := dpkg("--purge", names...); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	})
	if out, err := dpkg("-i", debs...); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	for _, n := range names {
		out, err := exec.Command("dpkg", "-L", n).Output()
		if err != nil {
			t.Fatalf("dpkg -L %s: %v", n, err)
		}
		installed[n] = strings.Fields(string(out))
	}

	// What the packages put in place: the binaries report the package's version, the
	// completions, the account and the config readable by it.
	for _, n := range names {
		out, err := exec.Command("/usr/bin/"+n, "--version").Output()
		if err != nil || !strings.HasPrefix(string(out), strings.TrimPrefix(n, "deskport-")+" v"+testVersion+" ") {
			t.Errorf("%s --version: %q %v", n, out, err)
		}
		for _, p := range []string{"/usr/share/bash-completion/completions/" + n, "/usr/share/zsh/vendor-completions/_" + n, "/usr/share/fish/vendor_completions.d/" + n + ".fish"} {
			if b, err := os.ReadFile(p); err != nil || !bytes.Contains(b, []byte(n)) {
				t.Errorf("completion %s: %v", p, err)
			}
		}
	}
	account, ok := lookupUser("deskport")
	if !ok {
		t.Fatal("the host package did not create the deskport account")
	}
	if st, err := os.Stat("/etc/deskport/host.toml"); err != nil || st.Mode().Perm() != 0o640 || int(st.Sys().(*syscall.Stat_t).Gid) != account.gid {
		t.Errorf("/etc/deskport/host.toml: %v %v; want 0640 and group deskport, so the service can read it", st.Mode(), err)
	}

	// The rendezvous, as its unit runs it, on a port of its own (the admin's edit).
	editConfig(t, "/etc/deskport/rendezvous.toml", map[string]string{
		"listen": `"127.0.0.1:0"`, "stun-listen": `"off"`,
	})
	rvUnit := readUnit(t, "/usr/lib/systemd/system/deskport-rendezvous.service")
	rv := startUnit(t, rvUnit)
	status := rv.ready(t)
	addr, ok := strings.CutPrefix(status, "listening on ")
	if !ok {
		t.Fatalf("the rendezvous's readiness STATUS=%q, want \"listening on ADDR\"", status)
	}
	rvURL := "http://" + addr
	checkVersionServed(t, rvURL)

	// A TCP service the viewer will reach through the host: it answers every byte, reversed
	// in case, so that a short circuit could not pass.
	echo := echoServer(t)

	// The viewer's key, trusted by the host (the admin adds its line).
	home := t.TempDir()
	viewerKey := filepath.Join(home, "viewer.key")
	line, err := exec.Command("/usr/bin/deskport-viewer", "id", "--key", viewerKey).Output()
	if err != nil {
		t.Fatalf("deskport-viewer id: %v", err)
	}
	if err := os.WriteFile("/etc/deskport/authorized_viewers", line, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown("/etc/deskport/authorized_viewers", 0, account.gid); err != nil {
		t.Fatal(err)
	}
	editConfig(t, "/etc/deskport/host.toml", map[string]string{
		"rendezvous": strconv.Quote(rvURL), "allow": `["` + echo + `"]`, "ice-loopback-only": "true",
	})
	hostUnit := readUnit(t, "/usr/lib/systemd/system/deskport-host.service")
	if hostUnit.user != "deskport" {
		t.Fatalf("the host unit runs as %q, want deskport", hostUnit.user)
	}
	// The admin checks the file as the service's account (as root, --check-config would
	// create the host key owned by root, which the service then cannot read).
	check := hostUnit.command(t, "--check-config")
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("deskport-host --check-config as deskport: %v\n%s", err, out)
	}
	host := startUnit(t, hostUnit)
	hostID, ok := strings.CutPrefix(host.ready(t), "host ID ")
	if !ok {
		t.Fatal("the host's readiness STATUS does not name its ID")
	}
	host.waitLog(t, "registered")
	if st, err := os.Stat("/var/lib/deskport/host.key"); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != account.uid || st.Mode().Perm() != 0o600 {
		t.Errorf("the host key: %v %v; want 0600, owned by deskport", st, err)
	}

	// The installed viewer forwards a payload through them, byte-exact.
	payload := make([]byte, 256<<10)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	viewer := exec.Command("/usr/bin/deskport-viewer", "stdio", strings.TrimSpace(hostID), echo,
		"--rendezvous", rvURL, "--key", viewerKey, "--known-hosts", filepath.Join(home, "known_hosts"), "--ice-loopback-only", "--quiet")
	viewer.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "DESKPORT_RENDEZVOUS=")
	viewer.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	viewer.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := runCtx(ctx, viewer)
	if err != nil {
		t.Fatalf("deskport-viewer stdio: %v\n%s\nhost log:\n%s", err, stderr.String(), host.log())
	}
	if want := bytes.ToUpper(payload); !bytes.Equal(got, want) {
		t.Fatalf("the forward returned %d bytes, not the %d sent (upper-cased)", len(got), len(want))
	}

	// Stop both as systemd would (SIGTERM), then purge.
	host.stop(t)
	rv.stop(t)
	if out, err := dpkg("--purge", names...); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, n := range names {
		if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", n).Output(); err == nil && strings.Contains(string(out), "installed") {
			t.Errorf("%s is still known to dpkg after purge: %s", n, out)
		}
		for _, f := range installed[n] {
			// Shared directories (/usr/bin) stay; the package's own files and directories go.
			if st, err := os.Lstat(f); err == nil && (!st.IsDir() || strings.Contains(f, "deskport")) {
				t.Errorf("%s left %s after purge", n, f)
			}
		}
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("purge left %s", p)
		}
	}
	// What packaging documents as staying (docs/service.md): the deskport account, as Debian
	// policy asks, and its sysusers.d entry is gone with the package.
	if _, ok := lookupUser("deskport"); !ok {
		t.Error("the deskport account is gone; docs/service.md says it stays, so fix one of them")
	}
}

// lockMachine serialises tests that install packages on this machine, across test binaries
// and worktrees, and waits for another package manager run (dpkg's own lock) to end.
func lockMachine(t *testing.T) func() {
	t.Helper()
	f, err := os.OpenFile("/run/lock/deskport-package-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Skipf("no lock file for the package test: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// dpkg runs dpkg op names. Like apt, it first takes dpkg's frontend lock, waiting for another
// package manager's run on this machine to end, and tells dpkg it holds it.
func dpkg(op string, names ...string) ([]byte, error) {
	f, err := os.OpenFile("/var/lib/dpkg/lock-frontend", os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
		return nil, fmt.Errorf("dpkg's frontend lock: %w", err)
	}
	cmd := exec.Command("dpkg", append([]string{op}, names...)...)
	cmd.Env = append(os.Environ(), "DPKG_FRONTEND_LOCKED=1", "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

func debArch(t *testing.T) string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

type account struct{ uid, gid int }

func lookupUser(name string) (account, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, false
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{uid, gid}, true
}

// editConfig sets keys in a TOML config file the way an admin edits it: a key's line (and a
// multi-line array that follows) is replaced, a key the file lacks is added at the end.
func editConfig(t *testing.T, path string, set map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range set {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + ` = (\[[^\]]*\]|.*)$`)
		if re.MatchString(s) {
			s = re.ReplaceAllLiteralString(s, k+" = "+v)
		} else {
			s += k + " = " + v + "\n"
		}
	}
	if err := os.WriteFile(path, []byte(s), 0); err != nil {
		t.Fatal(err)
	}
}

// unit is what the test takes from an installed systemd unit to run its service.
type unit struct {
	path       string
	execStart  []string
	user       string // "" with DynamicUser
	dynamic    bool
	env        []string
	stateDir   string
	logsDir    string
	notifyType bool
}

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{path: path}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "ExecStart":
			u.execStart = strings.Fields(v)
		case "User":
			u.user = v
		case "DynamicUser":
			u.dynamic = v == "yes"
		case "Environment":
			u.env = append(u.env, strings.Fields(v)...)
		case "StateDirectory":
			u.stateDir = v
		case "LogsDirectory":
			u.logsDir = v
		case "Type":
			u.notifyType = v == "notify"
		}
	}
	if len(u.execStart) == 0 || !u.notifyType || (u.user == "") != u.dynamic {
		t.Fatalf("%s: ExecStart %q, Type=notify %v, User %q, DynamicUser %v", path, u.execStart, u.notifyType, u.user, u.dynamic)
	}
	return u
}

// service is a unit's command running as the unit would run it.
type service struct {
	cmd    *exec.Cmd
	notes  chan string   // what the service sent to NOTIFY_SOCKET
	exited chan struct{} // closed when the process has ended
	done   chan error    // its exit status, once

	mu      sync.Mutex
	logBuf  bytes.Buffer
	logWake chan struct{}
}

// command returns u's ExecStart (with extra arguments) as its user (nobody for a DynamicUser,
// which systemd would allocate), in the environment systemd gives it: the unit's
// Environment= and the state and logs directories, created for that user.
func (u unit) command(t *testing.T, extra ...string) *exec.Cmd {
	t.Helper()
	acct := account{65534, 65534}
	if !u.dynamic {
		var ok bool
		if acct, ok = lookupUser(u.user); !ok {
			t.Fatalf("%s: no account %q", u.path, u.user)
		}
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	env = append(env, u.env...)
	mkdir := func(dir string) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, acct.uid, acct.gid); err != nil {
			t.Fatal(err)
		}
	}
	if u.stateDir != "" {
		state := "/var/lib/" + u.stateDir
		if u.dynamic {
			// systemd keeps a DynamicUser's state in /var/lib/private, linked from /var/lib.
			if err := os.MkdirAll("/var/lib/private", 0o700); err != nil {
				t.Fatal(err)
			}
			mkdir("/var/lib/private/" + u.stateDir)
			if _, err := os.Lstat(state); err != nil {
				if err := os.Symlink("private/"+u.stateDir, state); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			mkdir(state)
		}
		env = append(env, "STATE_DIRECTORY="+state)
	}
	if u.logsDir != "" {
		mkdir("/var/log/" + u.logsDir)
		env = append(env, "LOGS_DIRECTORY=/var/log/"+u.logsDir)
	}
	cmd := exec.Command(u.execStart[0], append(append([]string{}, u.execStart[1:]...), extra...)...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(acct.uid), Gid: uint32(acct.gid)}, Setpgid: true}
	return cmd
}

// startUnit runs u as systemd would (u.command), with NOTIFY_SOCKET.
func startUnit(t *testing.T, u unit) *service {
	t.Helper()
	// The notify socket lives in a directory the service's user can reach.
	sockDir, err := os.MkdirTemp("", "deskport-notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sock, 0o777)

	s := &service{notes: make(chan string, 16), done: make(chan error, 1), exited: make(chan struct{}), logWake: make(chan struct{}, 1)}
	s.cmd = u.command(t)
	s.cmd.Env = append(s.cmd.Env, "NOTIFY_SOCKET="+sock)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(u.execStart, " "), err)
	}
	go func() {
		defer close(s.notes)
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.notes <- string(buf[:n]):
			default: // watchdog pings nobody reads
			}
		}
	}()
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadBytes('\n')
			s.mu.Lock()
			s.logBuf.Write(line)
			s.mu.Unlock()
			select {
			case s.logWake <- struct{}{}:
			default:
			}
			if err != nil {
				break
			}
		}
		err := s.cmd.Wait()
		close(s.exited)
		s.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		nc.Close()
	})
	return s
}

// ready waits for READY=1 on the notify socket, as systemd does for Type=notify, and returns
// the STATUS= that came with it.
func (s *service) ready(t *testing.T) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case msg := <-s.notes:
			var ready bool
			var status string
			for _, l := range strings.Split(msg, "\n") {
				if l == "READY=1" {
					ready = true
				}
				if v, ok := strings.CutPrefix(l, "STATUS="); ok {
					status = v
				}
			}
			if ready {
				return status
			}
		case <-s.exited:
			t.Fatalf("%s exited before READY=1:\n%s", s.cmd.Path, s.log())
		case <-timeout:
			t.Fatalf("no READY=1 from %s in 60 s:\n%s", s.cmd.Path, s.log())
		}
	}
}

func (s *service) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logBuf.String()
}

// waitLog waits until the service's log holds substr.
func (s *service) waitLog(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for !strings.Contains(s.log(), substr) {
		select {
		case <-s.logWake:
		case <-s.exited:
			if !strings.Contains(s.log(), substr) {
				t.Fatalf("%s exited before logging %q:\n%s", s.cmd.Path, substr, s.log())
			}
		case <-timeout:
			t.Fatalf("%s did not log %q:\n%s", s.cmd.Path, substr, s.log())
		}
	}
}

// stop sends SIGTERM, as systemctl stop does, and wants a clean exit.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", s.cmd.Path, err, s.log())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30 s of SIGTERM", s.cmd.Path)
	}
}

// checkVersionServed: the installed rendezvous names its build, the package's version, in
// /healthz and in the browser page's footer.
func checkVersionServed(t *testing.T, url string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		OK    bool `json:"ok"`
		Build struct {
			Version, Commit string
		} `json:"build"`
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || !h.OK || h.Build.Version != "v"+testVersion || h.Build.Commit == "" {
		t.Errorf("/healthz of the installed rendezvous: %+v %v; want build v%s with a commit", h, err, testVersion)
	}
	resp, err = c.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`<p id="version"[^>]*>deskport v` + regexp.QuoteMeta(testVersion) + ` commit `).Match(page) {
		t.Errorf("the page's footer does not name v%s:\n%s", testVersion, page)
	}
}

// echoServer answers each connection with what it reads, upper-cased, and closes its side
// when the client has closed its own.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(bytes.ToUpper(buf[:n])); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// runCtx runs cmd and returns its standard output; ctx's end kills it.
func runCtx(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return out.Bytes(), fmt.Errorf("no answer in time: %w", ctx.Err())
	}
}
