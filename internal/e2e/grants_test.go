//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestNotGrantedForwardSaysSo: a one-time code's session granted only the screen used to print
// "forwarding 127.0.0.1:N -> …" and then fail every connection made to it. The viewer now asks
// the host what the session may do and stops at once, saying what was not granted and how to
// get it, without a forwarding line.
func TestNotGrantedForwardSaysSo(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	h := w.startHost(t, "--code", "--grant", "view", "--allow", target.Addr().String())
	code := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	v := w.forward(t, filepath.Join(w.dir, "stranger.key"), "--code", code, "-L", "127.0.0.1:0:"+target.Addr().String())
	if err := v.wait(60 * time.Second); err == nil {
		t.Fatalf("viewer forward with a view-only code exited 0:\n%s", v.output())
	}
	if regexp.MustCompile(`forwarding \S+ -> `).MatchString(v.output()) {
		t.Errorf("viewer printed a forward the host does not grant:\n%s", v.output())
	}
	v.waitFor(`did not grant this session port forwarding \(-L, -D\) \(granted: view\).*--grant forward`, time.Second)
}

// TestNotGrantedFilesSaysSo: a trusted key whose authorized_viewers line says no-files gets a
// clear refusal from `viewer ls`, naming the line's option.
func TestNotGrantedFilesSaysSo(t *testing.T) {
	w := newWorld(t)
	line, err := os.ReadFile(w.authorized)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.authorized, []byte("no-files "+string(line)), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startHost(t, "--no-desktop")
	v := start(t, "viewer", "ls", w.hostID, "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only")
	if err := v.wait(60 * time.Second); err == nil {
		t.Fatalf("viewer ls with no-files exited 0:\n%s", v.output())
	}
	v.waitFor(`did not grant this session file transfer \(granted: view,control,clipboard,forward,listen\): your key's line in the host's authorized_viewers`, time.Second)
}

// TestSlowConsent: the host's owner may take a while to accept a one-time code's session
// (--consent-timeout, 60 s by default). The viewer says what it waits for, and its session
// survives a wait longer than yamux's 30 s stream-open timeout: the host answers the viewer's
// opens only once its owner has accepted, and that used to end the viewer's session at 30 s.
func TestSlowConsent(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 35 s for a consent")
	}
	w := newWorld(t)
	if err := os.MkdirAll(filepath.Join(w.dir, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "root", "hello.txt"), []byte("hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	master, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--no-desktop", "--files-root", filepath.Join(w.dir, "root"),
		"--code", "--grant", "view,files", "--accept", "ask", "--consent-timeout", "90s")
	code := h.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)
	v := startInput(t, nil, []string{"DESKPORT_CODE=" + code}, "viewer", "ls", w.hostID, "--rendezvous", w.rvURL,
		"--key", filepath.Join(w.dir, "stranger.key"), "--ice-loopback-only")
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	v.waitFor(`waiting for the host's owner to accept this session`, 10*time.Second)
	time.Sleep(35 * time.Second)
	if _, err := master.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	h.waitFor(`granted: view,files`, 10*time.Second)
	if err := v.wait(60 * time.Second); err != nil {
		t.Fatalf("viewer ls after a 35 s consent: %v\n%s", err, v.output())
	}
	v.waitFor(`hello.txt`, time.Second)
}

// TestConsentWithdrawnWhenViewerLeaves: a viewer that gives up while the host's owner is asked
// takes the question with it; the prompt used to stay open (pausing every session's input) and
// an answer given then logged "viewer connected" for a session that was gone.
func TestConsentWithdrawnWhenViewerLeaves(t *testing.T) {
	w := newWorld(t)
	_, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--no-desktop", "--audit-log", filepath.Join(w.dir, "audit.log"),
		"--code", "--grant", "view", "--accept", "ask", "--consent-timeout", "90s")
	code := h.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)
	v := startInput(t, nil, []string{"DESKPORT_CODE=" + code}, "viewer", "screenshot", w.hostID, filepath.Join(w.dir, "shot.png"),
		"--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "stranger.key"), "--ice-loopback-only")
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	v.waitFor(`waiting for the host's owner to accept this session`, 10*time.Second)
	v.stop()
	h.waitFor(`the viewer left`, 30*time.Second)
	h.waitFor(`the viewer left before the host owner answered`, 10*time.Second)
	if strings.Contains(h.output(), "viewer connected") {
		t.Errorf("the host logged a connection for a viewer that left during the question:\n%s", h.output())
	}
}

// TestViewerSaysHostWentAway: a host that dies (SIGKILL: a crash, a power cut) leaves the
// viewer's restarts finding it offline at the rendezvous. The viewer used to try for a minute,
// logging a warning every 4 s, and end on yamux's keepalive with "the connection to the host
// ended"; now it says the host went away once the rendezvous has not seen it for 20 s.
func TestViewerSaysHostWentAway(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 25 s for the viewer to give up")
	}
	w := newWorld(t)
	target := serveBlob(t)
	h := w.startHost(t, "--no-desktop", "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	v.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := v.wait(50 * time.Second); err == nil {
		t.Fatalf("viewer forward exited 0 after its host was killed:\n%s", v.output())
	}
	v.waitFor(`viewer: the host went away`, time.Second)
	if n := strings.Count(v.output(), "ICE restart failed; trying again"); n > 1 {
		t.Errorf("the viewer logged %d failed restarts against an offline host:\n%s", n, v.output())
	}
}
