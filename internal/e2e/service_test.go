package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gatedBlob serves the blob in two halves: the second waits until release is closed, so a test
// can act (SIGTERM, SIGHUP) while a transfer is in flight. reached is closed when a request
// has received its first half.
type gatedBlob struct {
	ln      net.Listener
	reached chan struct{}
	release chan struct{}
}

func serveGatedBlob(t *testing.T) *gatedBlob {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedBlob{ln: ln, reached: make(chan struct{}), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/blob", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
		w.Header().Set("Connection", "close")
		half := len(blob) / 2
		w.Write(blob[:half])
		w.(http.Flusher).Flush()
		close(g.reached)
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
		w.Write(blob[half:])
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return g
}

// fetch GETs url without keep-alive (the forward's stream closes with the response) and
// returns the SHA-256 of the body and its length.
func fetch(url string) (string, int64, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

type fetched struct {
	sum string
	n   int64
	err error
}

// writeHostConfig writes the host's settings as a config file (the way a service runs it)
// and returns its path.
func (w *world) writeHostConfig(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(w.dir, "host.toml")
	body := fmt.Sprintf(`# the e2e host, as a service would run it
rendezvous = %q
key = %q
authorized-viewers = %q
audit-log = %q
files-root = ""
ice-loopback-only = true
no-desktop = true
%s`, w.rvURL, filepath.Join(w.dir, "host.key"), w.authorized, filepath.Join(w.dir, "audit.log"), extra)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServiceDrain: a SIGTERM during a running -L transfer lets it finish (byte-exact) within
// the drain timeout, refuses a new viewer meanwhile with "host is shutting down", tells the
// connected viewer, and the host exits by itself once the transfer is done.
func TestServiceDrain(t *testing.T) {
	w := newWorld(t)
	target := serveGatedBlob(t)
	cfg := w.writeHostConfig(t, fmt.Sprintf("allow = [%q]\ndrain-timeout = \"60s\"\n", target.ln.Addr().String()))
	h := start(t, "host", "--config", cfg)
	h.waitFor(`registered`, 30*time.Second)

	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.ln.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	got := make(chan fetched, 1)
	go func() {
		s, n, err := fetch("http://" + local + "/blob")
		got <- fetched{s, n, err}
	}()
	<-target.reached

	sent := time.Now()
	h.cmd.Process.Signal(syscall.SIGTERM)
	h.waitFor(`shutting down: refusing new viewers`, 10*time.Second)
	// The connected viewer was told: its transfer goes on, a new forward is refused.
	if _, _, err := fetch("http://" + local + "/blob"); err == nil {
		t.Errorf("a new forward on a draining session went through")
	}
	v.waitFor(`forward failed.*host is shutting down`, 10*time.Second)

	late := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.ln.Addr().String())
	if err := late.wait(60 * time.Second); err == nil {
		t.Errorf("a viewer connected to a host that is shutting down")
	}
	late.waitFor(`host is shutting down`, time.Second)
	select {
	case <-h.done:
		t.Fatalf("the host exited before the transfer finished; output:\n%s", h.output())
	default:
	}

	close(target.release)
	r := <-got
	if r.err != nil || r.n != blobSize || r.sum != blobSum {
		t.Fatalf("the drained transfer: %d bytes, sha256 %s, err %v; want %d bytes, %s", r.n, r.sum, r.err, blobSize, blobSum)
	}
	if err := h.wait(30 * time.Second); err != nil {
		t.Errorf("the host exited with %v after draining, want success", err)
	}
	t.Logf("SIGTERM to exit: %v (transfer held open by the test, then finished)", time.Since(sent).Round(time.Millisecond))
	refused := false
	for _, e := range readAudit(t, filepath.Join(w.dir, "audit.log")) {
		if e["type"] == "refused" && e["error"] == "host is shutting down" {
			refused = true
		}
	}
	if !refused {
		t.Errorf("the audit log lacks the refusal of the late viewer")
	}
}

// TestServiceDrainTimeout: a transfer that outlives --drain-timeout is cut and the host exits.
func TestServiceDrainTimeout(t *testing.T) {
	w := newWorld(t)
	target := serveGatedBlob(t)
	defer close(target.release)
	cfg := w.writeHostConfig(t, fmt.Sprintf("allow = [%q]\n", target.ln.Addr().String()))
	h := start(t, "host", "--config", cfg, "--drain-timeout", "300ms") // the flag wins over the file's default
	h.waitFor(`registered`, 30*time.Second)
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.ln.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	got := make(chan fetched, 1)
	go func() {
		s, n, err := fetch("http://" + local + "/blob")
		got <- fetched{s, n, err}
	}()
	<-target.reached
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := h.wait(30 * time.Second); err != nil {
		t.Errorf("the host exited with %v, want success", err)
	}
	h.waitFor(`drain timeout: closing the sessions still working`, time.Second)
	if r := <-got; r.err == nil && r.n == blobSize {
		t.Errorf("the transfer completed although the drain timeout cut it")
	}
}

// TestServiceReload: a SIGHUP after a key was removed from authorized_viewers ends that key's
// session at once (audited) while another key's transfer carries on byte-exact; a change of
// --allow in the config file applies to the next forward without a restart.
func TestServiceReload(t *testing.T) {
	w := newWorld(t)
	target := serveGatedBlob(t)
	other := serveBlob(t)
	keyB := filepath.Join(w.dir, "viewer-b.key")
	lineB, err := run(t, "viewer", "id", "--key", keyB)
	if err != nil {
		t.Fatalf("viewer id: %v: %s", err, lineB)
	}
	lineA, err := os.ReadFile(w.authorized)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.authorized, append(append(lineA, '\n'), lineB...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := w.writeHostConfig(t, fmt.Sprintf("allow = [%q]\n", target.ln.Addr().String()))
	h := start(t, "host", "--config", cfg)
	h.waitFor(`registered`, 30*time.Second)

	// B transfers through the gated target; A is connected and idle.
	vb := w.forward(t, keyB, "-L", "127.0.0.1:0:"+target.ln.Addr().String(), "-L", "127.0.0.1:0:"+other.Addr().String())
	localB := vb.waitFor(`forwarding (\S+) -> `+target.ln.Addr().String(), 60*time.Second)[1]
	otherB := vb.waitFor(`forwarding (\S+) -> `+other.Addr().String(), 10*time.Second)[1]
	va := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.ln.Addr().String())
	va.waitFor(`connected to host`, 60*time.Second)
	got := make(chan fetched, 1)
	go func() {
		s, n, err := fetch("http://" + localB + "/blob")
		got <- fetched{s, n, err}
	}()
	<-target.reached

	// A malformed file changes nothing: both sessions carry on.
	if err := os.WriteFile(w.authorized+".bad", []byte("ssh-ed25519 not-base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(w.authorized+".bad", w.authorized); err != nil {
		t.Fatal(err)
	}
	h.waitFor(`reload failed; keeping the running policy`, 10*time.Second)
	select {
	case <-va.done:
		t.Fatalf("a malformed authorized_viewers ended viewer A's session; output:\n%s", va.output())
	default:
	}

	// Remove A the way an editor does (a new file renamed over the old one), then SIGHUP.
	tmp := w.authorized + ".new"
	if err := os.WriteFile(tmp, []byte(lineB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, w.authorized); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	h.cmd.Process.Signal(syscall.SIGHUP)
	h.waitFor(`ending a session on reload.*removed from authorized_viewers`, 10*time.Second)
	if err := va.wait(30 * time.Second); err == nil {
		t.Errorf("viewer A exited cleanly; want its session ended by the host")
	}
	t.Logf("SIGHUP to viewer A's exit: %v", time.Since(sent).Round(time.Millisecond))

	close(target.release)
	r := <-got
	if r.err != nil || r.n != blobSize || r.sum != blobSum {
		t.Fatalf("B's transfer across the reload: %d bytes, sha256 %s, err %v; want %d bytes, %s", r.n, r.sum, r.err, blobSize, blobSum)
	}

	// The forward policy: the file does not allow `other` yet, so B's forward there is refused;
	// after the file allows it (watched: no signal), the next one goes through.
	if _, _, err := fetch("http://" + otherB + "/blob"); err == nil {
		t.Fatalf("a forward to a target the config does not allow went through")
	}
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	newBody := strings.Replace(string(body), fmt.Sprintf("allow = [%q]", target.ln.Addr().String()),
		fmt.Sprintf("allow = [%q, %q]", target.ln.Addr().String(), other.Addr().String()), 1)
	if err := os.WriteFile(cfg, []byte(newBody), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor(`reloaded the policy.*`+other.Addr().String(), 10*time.Second)
	if s, n, err := fetch("http://" + otherB + "/blob"); err != nil || n != blobSize || s != blobSum {
		t.Fatalf("after the reload allowed it: %d bytes, %s, %v", n, s, err)
	}

	revoked := false
	for _, e := range readAudit(t, filepath.Join(w.dir, "audit.log")) {
		if e["type"] == "revoked" {
			revoked = true
		}
	}
	if !revoked {
		t.Errorf("the audit log lacks the revoked session")
	}
	select {
	case <-vb.done:
		t.Errorf("viewer B's session ended across the reload; output:\n%s", vb.output())
	default:
	}
}
