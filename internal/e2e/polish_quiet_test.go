package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneShotCommandsQuiet: `viewer cp`, `viewer ls` and `viewer clipboard` (and `viewer screenshot`)
// print no log lines (time=… level=INFO …) on stderr unless -v; with -v the detail is there
// (which lane forwards and files take).
func TestOneShotCommandsQuiet(t *testing.T) {
	w := newWorld(t)
	w.startHost(t, "--no-desktop")
	local := filepath.Join(w.dir, "up.txt")
	if err := os.WriteFile(local, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}
	// viewer runs one command; the clipboard's fails (a host without a desktop has none), after
	// connecting, which is what counts here.
	viewer := func(args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin("viewer"), append(args, common...)...)
		cmd.Env = append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t))
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil && args[0] != "clipboard" {
			t.Fatalf("viewer %s: %v\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		return o.String(), e.String()
	}
	for _, args := range [][]string{
		{"cp", local, w.hostID + ":up.txt"},
		{"ls", w.hostID},
		{"cp", w.hostID + ":up.txt", filepath.Join(w.dir, "down.txt")},
		{"clipboard", w.hostID, "--set", "x"},
	} {
		_, stderr := viewer(args...)
		if strings.Contains(stderr, "level=") {
			t.Errorf("viewer %s printed log lines without -v:\n%s", args[0], stderr)
		}
		_, stderr = viewer(append(args, "-v")...)
		if !strings.Contains(stderr, "level=INFO") || !strings.Contains(stderr, "direct TCP lane") {
			t.Errorf("viewer %s -v does not say which lane it took:\n%s", args[0], stderr)
		}
	}
}
