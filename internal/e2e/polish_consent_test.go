//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsentPromptUnambiguous: when a viewer joins with the one-time code, the host asks its
// owner, and Enter answers "view only". Nothing just before that question may tell the owner to
// press Enter for something else (a new code); that hint comes once the question is answered.
func TestConsentPromptUnambiguous(t *testing.T) {
	w := newWorld(t)
	master, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--no-desktop", "--files-root", filepath.Join(w.dir, "root"),
		"--code", "--grant", "view,files", "--accept", "ask", "--consent-timeout", "30s")
	code := h.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)
	v := startInput(t, nil, []string{"DESKPORT_CODE=" + code}, "viewer", "ls", w.hostID, "--rendezvous", w.rvURL,
		"--key", filepath.Join(w.dir, "stranger.key"), "--ice-loopback-only")
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	out := h.output()
	asked := out[strings.LastIndex(out, "one-time code: "):]
	if strings.Contains(asked, "Enter for") || strings.Contains(asked, "press Enter") {
		t.Errorf("between the code and the question the host says:\n%s\nwhere Enter answers the question (view only)", asked)
	}
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	// The question's last line (what Enter does) ends with the answer.
	h.waitFor(`\[Enter\] view only .* granted: view$`, 10*time.Second)
	h.waitFor(`one-time code is used up; press Enter for a new one-time code`, 10*time.Second)
	if err := v.wait(60 * time.Second); err == nil {
		t.Errorf("viewer ls got in with view only:\n%s", v.output())
	}
	// The next Enter, with no question open, asks for a new code.
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	h.waitMatch(`one-time code: (\S+)`, 10*time.Second, func(m []string) bool { return m[1] != code })
}
