package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestHostCtrlCTwice: Ctrl-C at a host that has a forward open says that it waits for the
// forward (up to --drain-timeout) and that a second Ctrl-C closes it now, and the second one
// does. Before, the host printed only "draining sessions" and a person waited out the drain
// timeout (10 s by default) without knowing why or how to stop sooner.
func TestHostCtrlCTwice(t *testing.T) {
	w := newWorld(t)
	target := serveGatedBlob(t)
	defer close(target.release)
	h := w.startHost(t, "--no-desktop", "--allow", target.ln.Addr().String(), "--drain-timeout", "10m")
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.ln.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	got := make(chan error, 1)
	go func() {
		_, _, err := fetch("http://" + local + "/blob")
		got <- err
	}()
	<-target.reached

	h.cmd.Process.Signal(syscall.SIGINT)
	h.waitFor(`Ctrl-C again .*closes every session now`, 10*time.Second)
	select {
	case <-h.done:
		t.Fatalf("the host exited on the first Ctrl-C with a forward open:\n%s", h.output())
	case <-time.After(500 * time.Millisecond):
	}
	h.cmd.Process.Signal(syscall.SIGINT)
	// The hang guard is far below the 10 minutes the drain would take.
	if err := h.wait(30 * time.Second); err != nil {
		t.Errorf("the host exited with %v after the second Ctrl-C, want success", err)
	}
	h.waitFor(`second signal: closing every session now`, time.Second)
	if err := <-got; err == nil {
		t.Error("the cut forward's transfer completed")
	}
}
