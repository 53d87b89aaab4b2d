// Package e2e drives the real host, viewer and rendezvous binaries on loopback, with real TCP
// services, a real sshd and a real SOCKS client (curl).
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const blobSize = 64 << 20

// blob is a deterministic 64 MiB payload and its SHA-256.
var blob, blobSum = func() ([]byte, string) {
	b := make([]byte, blobSize)
	r := rand.NewChaCha8([32]byte{'d', 'e', 's', 'k', 'p', 'o', 'r', 't'})
	r.Read(b)
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}()

// serveBlob runs an HTTP server on loopback whose /blob is the payload.
func serveBlob(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/blob", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(blob)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

// curlSum fetches url with curl (extra args first) and returns the SHA-256 of the body.
func curlSum(t *testing.T, url string, extra ...string) string {
	t.Helper()
	args := append(append([]string{"--silent", "--show-error", "--fail", "--max-time", "120"}, extra...), url)
	cmd := exec.Command("curl", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("curl: %v", err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if n != blobSize {
		t.Errorf("curl %s: got %d bytes, want %d", url, n, blobSize)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// world is one rendezvous, one host and a trusted viewer key, all on loopback.
type world struct {
	dir        string
	rvURL      string
	rv         *proc
	host       *proc
	hostID     string
	viewerKey  string
	authorized string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, "--stun-listen", "127.0.0.1:0")
}

// newWorldWith is newWorld with the rendezvous's flags besides --listen.
func newWorldWith(t *testing.T, rvFlags ...string) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	w.rv = start(t, "rendezvous", append([]string{"--listen", "127.0.0.1:0"}, rvFlags...)...)
	addr := w.rv.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1]
	w.rvURL = "http://" + addr
	w.viewerKey = filepath.Join(w.dir, "viewer.key")
	line, err := run(t, "viewer", "id", "--key", w.viewerKey)
	if err != nil {
		t.Fatalf("viewer id: %v: %s", err, line)
	}
	if !strings.HasPrefix(line, "ssh-ed25519 ") {
		t.Fatalf("viewer id printed %q, want an authorized_viewers line", line)
	}
	w.authorized = filepath.Join(w.dir, "authorized_viewers")
	if err := os.WriteFile(w.authorized, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "host", "id", "--key", filepath.Join(w.dir, "host.key"))
	if err != nil {
		t.Fatalf("host id: %v: %s", err, out)
	}
	w.hostID = strings.TrimSpace(out)
	return w
}

// startHost starts the host agent with extra flags and waits until it is registered.
func (w *world) startHost(t *testing.T, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--audit-log", filepath.Join(w.dir, "audit.log"),
		"--files-root", filepath.Join(w.dir, "files-root")}, extra...)
	w.host = start(t, "host", args...)
	w.host.waitFor(`registered`, 30*time.Second)
	return w.host
}

// forward starts `viewer forward` and returns it once every forward is ready.
func (w *world) forward(t *testing.T, key string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"forward", w.hostID, "--rendezvous", w.rvURL, "--key", key, "--ice-loopback-only"}, extra...)
	return start(t, "viewer", args...)
}

func TestForwardLocal(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	if got := curlSum(t, "http://"+local+"/blob"); got != blobSum {
		t.Fatalf("-L: SHA-256 %s, want %s", got, blobSum)
	}
	// Both deskport ends are on this machine: both send SCTP packets sized to loopback, not
	// pion's 1191 bytes (session/mtu.go).
	v.waitFor(`connected to host .*path host/(?:host|prflx), 8124-byte packets`, 10*time.Second)
	w.host.waitFor(`viewer connected.*packet_bytes=8124`, 10*time.Second)
}

func TestForwardDynamicSOCKS(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-D", "127.0.0.1:0")
	socks := v.waitFor(`SOCKS5 proxy on (\S+),`, 60*time.Second)[1]
	if got := curlSum(t, "http://"+target.Addr().String()+"/blob", "--socks5-hostname", socks); got != blobSum {
		t.Fatalf("-D: SHA-256 %s, want %s", got, blobSum)
	}
	// A destination the host does not allow is refused with SOCKS reply 0x02.
	other := serveBlob(t)
	cmd := exec.Command("curl", "--silent", "--show-error", "--max-time", "30", "--socks5-hostname", socks, "http://"+other.Addr().String()+"/blob")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("curl through -D to a refused target succeeded")
	}
	if !strings.Contains(string(out), "(2)") { // SOCKS5 reply 0x02: connection not allowed by ruleset
		t.Errorf("curl said %q, want the SOCKS 'not allowed' reply", out)
	}
	w.host.waitFor(`refused.*`+regexpQuote(other.Addr().String()), 30*time.Second)
}

func TestForwardRemote(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)                          // on the viewer's side
	w.startHost(t, "--allow-listen", "127.0.0.1:0") // port 0: any free port the OS picks
	v := w.forward(t, w.viewerKey, "-R", "127.0.0.1:0:"+target.Addr().String())
	bound := v.waitFor(`remote forwarding (\S+) on the host`, 60*time.Second)[1]
	if got := curlSum(t, "http://"+bound+"/blob"); got != blobSum {
		t.Fatalf("-R: SHA-256 %s, want %s", got, blobSum)
	}
}

func TestRefusedTarget(t *testing.T) {
	w := newWorld(t)
	allowed := serveBlob(t)
	refused := serveBlob(t)
	w.startHost(t, "--allow", allowed.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+refused.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	c, err := net.Dial("tcp", local)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	n, _ := io.Copy(io.Discard, c)
	c.Close()
	if n != 0 {
		t.Errorf("a refused target still sent %d bytes", n)
	}
	v.waitFor(`not allowed|refused`, 30*time.Second)
	v.waitFor(`--allow`, 30*time.Second)
	w.host.waitFor(`refused.*`+regexpQuote(refused.Addr().String()), 30*time.Second)

	// The audit log has the session, its grants and the refusal; after the viewer leaves, the end.
	v.stop()
	w.host.waitFor(`viewer disconnected`, 30*time.Second)
	events := readAudit(t, filepath.Join(w.dir, "audit.log"))
	want := map[string]bool{"session_start": false, "refused": false, "session_end": false}
	for _, e := range events {
		switch e["type"] {
		case "session_start":
			want["session_start"] = strings.HasPrefix(fmt.Sprint(e["viewer"]), "SHA256:") && strings.Contains(fmt.Sprint(e["capabilities"]), "forward")
		case "refused":
			want["refused"] = want["refused"] || e["target"] == refused.Addr().String()
		case "session_end":
			want["session_end"] = true
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("audit log lacks a proper %s event: %v", k, events)
		}
	}
}

// readAudit parses the host's JSON-lines audit log.
func readAudit(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestUnauthorizedViewer(t *testing.T) {
	w := newWorld(t)
	w.startHost(t, "--allow", "127.0.0.1:9")
	stranger := filepath.Join(w.dir, "stranger.key")
	v := w.forward(t, stranger, "-L", "127.0.0.1:0:127.0.0.1:9")
	err := v.wait(60 * time.Second)
	if err == nil {
		t.Fatalf("a viewer whose key is not in authorized_viewers connected")
	}
	v.waitFor(`authorized_viewers`, time.Second)
	w.host.waitFor(`viewer refused`, 30*time.Second)
}

func TestOneTimeCode(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	h := w.startHost(t, "--code", "--grant", "view,forward", "--allow", target.Addr().String())
	code := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	stranger := filepath.Join(w.dir, "stranger.key")

	// A wrong guess fails and burns the code.
	wrong := w.forward(t, stranger, "--code", flipCode(code), "-L", "127.0.0.1:0:"+target.Addr().String())
	if err := wrong.wait(60 * time.Second); err == nil {
		t.Fatal("a wrong code was accepted")
	}
	wrong.waitFor(`code was wrong`, time.Second)
	h.waitFor(`code is used up`, 10*time.Second)

	// The right code is now refused too: the wrong guess used it up.
	late := w.forward(t, stranger, "--code", code, "-L", "127.0.0.1:0:"+target.Addr().String())
	if err := late.wait(60 * time.Second); err == nil {
		t.Fatal("a burned code was accepted")
	}
	late.waitFor(`already used`, time.Second)

	// A restarted host shows a new code, which works once.
	h.stop()
	h = w.startHost(t, "--code", "--grant", "view,forward", "--allow", target.Addr().String())
	fresh := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	if fresh == code {
		t.Fatalf("the restarted host showed the burned code %s again", code)
	}
	v := w.forward(t, stranger, "--code", fresh, "-L", "127.0.0.1:0:"+target.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	if got := curlSum(t, "http://"+local+"/blob"); got != blobSum {
		t.Fatalf("-L with a code: SHA-256 %s, want %s", got, blobSum)
	}
	h.waitFor(`viewer connected.*method=code`, 10*time.Second)
}

// flipCode returns a code that differs from c in its first letter.
func flipCode(c string) string {
	b := []byte(c)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func regexpQuote(s string) string {
	return strings.NewReplacer(".", `\.`, "[", `\[`, "]", `\]`).Replace(s)
}
