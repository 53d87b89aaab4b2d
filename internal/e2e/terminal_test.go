//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal: the master (what the person types into and reads) and
// the slave (the program's terminal).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestHostTerminal drives a host whose standard input is a terminal, as its owner would: Enter
// prints a new one-time code (it never did: the reader was not started), a viewer that gets the
// code from $DESKPORT_CODE makes the host ask, the owner's answer lets it in, and a file name
// with escape sequences reaches the viewer's terminal escaped.
func TestHostTerminal(t *testing.T) {
	w := newWorld(t)
	root := filepath.Join(w.dir, "files-root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	// Made on the host by other means: an upload with this name is refused.
	evil := "evil\x1b]0;pwned\x07\x1b[2Kname.txt"
	if err := os.WriteFile(filepath.Join(root, evil), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	master, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--no-desktop", "--files-root", root,
		"--code", "--grant", "view,files", "--accept", "ask", "--consent-timeout", "2s")
	first := h.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)

	// Enter with no prompt open: a new code.
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	code := h.waitMatch(`one-time code: (\S+)`, 10*time.Second, func(m []string) bool { return m[1] != first })[1]

	// A viewer with the code in its environment; the owner allows it at the prompt.
	v := startInput(t, nil, []string{"DESKPORT_CODE=" + code}, "viewer", "ls", w.hostID, "--rendezvous", w.rvURL,
		"--key", filepath.Join(w.dir, "stranger.key"), "--ice-loopback-only")
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	if _, err := master.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	h.waitFor(`granted: view,files`, 10*time.Second)
	if err := v.wait(60 * time.Second); err != nil {
		t.Fatalf("viewer ls: %v\n%s", err, v.output())
	}
	out := v.output()
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Fatalf("viewer ls printed raw control bytes: %q", out)
	}
	if want := `evil\x1b]0;pwned\x07\x1b[2Kname.txt`; !strings.Contains(out, want) {
		t.Fatalf("viewer ls printed %q; want the name escaped as %s", out, want)
	}

	// The Enter that asks for the next code answers nothing; an unanswered prompt refuses
	// after --consent-timeout.
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	next := h.waitMatch(`one-time code: (\S+)`, 10*time.Second, func(m []string) bool { return m[1] != first && m[1] != code })[1]
	v2 := startInput(t, nil, []string{"DESKPORT_CODE=" + next}, "viewer", "ls", w.hostID, "--rendezvous", w.rvURL,
		"--key", filepath.Join(w.dir, "stranger.key"), "--ice-loopback-only")
	h.waitFor(`no answer in 2s: refused`, 60*time.Second)
	if err := v2.wait(60 * time.Second); err == nil {
		t.Fatalf("a viewer nobody answered for got in:\n%s", v2.output())
	}
}
