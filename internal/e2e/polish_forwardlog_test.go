package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestForwardRefusedLogOnce: the host's "forward refused" line names the viewer once (the
// session's logger already carries viewer=; the forward server added it a second time).
func TestForwardRefusedLogOnce(t *testing.T) {
	w := newWorld(t)
	allowed := serveBlob(t)
	other := serveBlob(t)
	h := w.startHost(t, "--allow", allowed.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+other.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	c, err := net.DialTimeout("tcp", local, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Read(make([]byte, 1)) // the viewer closes it once the host refuses
	c.Close()
	line := h.waitFor(`forward refused.*`, 30*time.Second)[0]
	if n := strings.Count(line, " viewer="); n != 1 {
		t.Errorf("the host's refusal names the viewer %d times, want once:\n%s", n, line)
	}
}
