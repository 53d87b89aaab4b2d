package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKickIsAudited: a session the owner ends with `host kick` is recorded as such in the
// audit log, and one the viewer ends is not. Before, both session_end lines read the same, so
// an admin reading the log could not tell a kick from a viewer leaving.
func TestKickIsAudited(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--no-desktop", "--allow", target.Addr().String())
	key := filepath.Join(w.dir, "host.key")

	left := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	left.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	left.stop() // the viewer leaves by itself
	w.host.waitFor(`viewer disconnected`, 30*time.Second)

	kicked := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	kicked.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	if out, err := run(t, "host", "kick", "all", "--key", key); err != nil || !strings.Contains(out, "ended 1 session") {
		t.Fatalf("host kick all: %v\n%s", err, out)
	}
	w.host.waitMatch(`viewer disconnected`, 30*time.Second, nth(2))

	var ends []map[string]any
	for _, e := range readAudit(t, filepath.Join(w.dir, "audit.log")) {
		if e["type"] == "session_end" {
			ends = append(ends, e)
		}
	}
	if len(ends) != 2 {
		t.Fatalf("the audit log has %d session_end lines, want 2: %v", len(ends), ends)
	}
	if e, _ := ends[0]["error"].(string); e != "" {
		t.Errorf("the session the viewer ended is audited with %q", e)
	}
	if e, _ := ends[1]["error"].(string); !strings.Contains(e, "host kick") {
		t.Errorf("the kicked session's session_end says %q; want that the owner ended it", e)
	}
}
