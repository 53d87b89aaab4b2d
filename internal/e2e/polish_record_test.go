package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRecordHostGone: `viewer record` stopped with Ctrl-C saves the file and exits 0; when the
// host goes away instead, it saves what arrived and exits non-zero, saying the host went away.
func TestRecordHostGone(t *testing.T) {
	d := newDesktopWorld(t)
	host, link, _ := d.startDesktopHost(t)
	rv := strings.SplitN(link, "/#", 2)[0]
	record := func(name string) *proc {
		return start(t, "viewer", "record", d.hostID, filepath.Join(d.dir, name), "--rendezvous", rv,
			"--key", d.viewerKey, "--ice-loopback-only")
	}

	v := record("stopped.ivf")
	v.waitFor(`recording .* press Ctrl-C to stop`, 60*time.Second)
	v.cmd.Process.Signal(syscall.SIGINT)
	if err := v.wait(30 * time.Second); err != nil {
		t.Fatalf("viewer record stopped with Ctrl-C: %v, want exit 0\n%s", err, v.output())
	}
	v.waitFor(`saved \d+ packets`, time.Second)

	v = record("lost.ivf")
	v.waitFor(`recording .* press Ctrl-C to stop`, 60*time.Second)
	host.stop()
	err := v.wait(90 * time.Second)
	if err == nil {
		t.Fatalf("viewer record exited 0 when the host went away:\n%s", v.output())
	}
	if !strings.Contains(v.output(), "the host went away") {
		t.Errorf("viewer record's output does not say the host went away:\n%s", v.output())
	}
	if fi, err := os.Stat(filepath.Join(d.dir, "lost.ivf")); err != nil || fi.Size() == 0 {
		t.Errorf("the recording until the host went away: %v, %v", fi, err)
	}
}
