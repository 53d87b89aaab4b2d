//go:build linux

package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCopyProgressOnlyOnATerminal: `viewer cp` draws its progress bar on a terminal only, as
// scp does; into a pipe or a log it wrote every redraw ("upload big.bin  37% |███…| …\r").
func TestCopyProgressOnlyOnATerminal(t *testing.T) {
	w := newWorld(t)
	w.startHost(t, "--no-desktop")
	local := filepath.Join(w.dir, "big.bin")
	writeRandom(t, local, 4<<20)
	base := []string{"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}

	out, err := run(t, "viewer", append([]string{"cp", local, w.hostID + ":piped.bin"}, base...)...)
	if err != nil {
		t.Fatalf("viewer cp: %v\n%s", err, out)
	}
	if strings.Contains(out, "%") || strings.Contains(out, "upload") {
		t.Errorf("viewer cp into a pipe printed a progress bar:\n%q", out)
	}

	// On a terminal the bar is there.
	master, slave := openPTY(t)
	cmd := exec.Command(bin("viewer"), append([]string{"cp", local, w.hostID + ":tty.bin"}, base...)...)
	cmd.Env = append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t))
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var tty bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&tty, master); close(read) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("viewer cp on a terminal: %v", err)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("viewer cp on a terminal did not end")
	}
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	<-read
	if !strings.Contains(tty.String(), "upload") || !strings.Contains(tty.String(), "100%") {
		t.Errorf("viewer cp on a terminal showed no progress bar:\n%q", tty.String())
	}
}
