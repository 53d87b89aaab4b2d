//go:build linux

package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestViewerSaysHostRestarted: a host that is SIGKILLed and started again at once with the same
// key (systemd's Restart=) registers again, so the viewer's ICE restarts reach the new process,
// which knows no such session. The viewer's first restart used to fail with "the host ended the
// restart's signaling without answering", every later one on pion's refusal to roll back the
// unanswered offer, and the session ended about 40 s later on yamux's keepalive with "the
// connection to the host ended". Now the new host says it has no such session and the viewer
// ends at once, exit status 1, saying the host restarted.
func TestViewerSaysHostRestarted(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	args := []string{"--no-desktop", "--allow", target.Addr().String()}
	h := w.startHost(t, args...)
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	v.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := h.wait(10 * time.Second); err == nil {
		t.Fatal("the killed host exited 0")
	}
	h2 := w.startHost(t, args...)
	up := time.Now()
	err := v.wait(30 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("viewer forward ended with %v after its host restarted, want exit status 1:\n%s", err, v.output())
	}
	t.Logf("the viewer ended %v after the new host registered", time.Since(up).Round(time.Millisecond))
	v.waitFor(`viewer: the host restarted \(or ended the session on its side\) and no longer has this session; connect again`, time.Second)
	h2.waitFor(`refused an ICE restart offer.*no running session knows restart ID`, 5*time.Second)
	for _, bad := range []string{"roll back the unanswered restart offer", "the host ended the restart's signaling without answering"} {
		if strings.Contains(v.output(), bad) {
			t.Errorf("the viewer logged %q:\n%s", bad, v.output())
		}
	}
}
