package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testredis"
)

const clusterBlobSize = 16 << 20

// fetch16 fetches the first 16 MiB of the blob through a forward's local address and checks
// them byte for byte (by SHA-256).
func fetch16(t *testing.T, local string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get("http://" + local + "/blob16")
	if err != nil {
		t.Fatalf("GET through %s: %v", local, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("read through %s after %d bytes: %v", local, n, err)
	}
	want := sha256.Sum256(blob[:clusterBlobSize])
	if n != clusterBlobSize || hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want[:]) {
		t.Fatalf("through %s: %d bytes, SHA-256 %x; want %d bytes, %x", local, n, h.Sum(nil), clusterBlobSize, want)
	}
}

// serveBlob16 serves the blob's first 16 MiB at /blob16.
func serveBlob16(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/blob16", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(blob[:clusterBlobSize])
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

// nth accepts the n-th match of a waitMatch (counting from 1), for a log line that repeats.
func nth(n int) func([]string) bool {
	seen := 0
	return func([]string) bool { seen++; return seen == n }
}

// TestClusterForward runs two rendezvous instances over a real redis-server. A host on
// instance A is reached by a viewer through instance B (16 MiB byte-exact through -L); Redis
// is stopped and started again, empty, and both instances recover (a new cross-instance
// session works); instance A is killed and the host, given both URLs, is reachable through B
// within 5 s, while the session set up before keeps working.
func TestClusterForward(t *testing.T) {
	rs := testredis.Start(t)
	w := newWorldWith(t, "--stun-listen", "127.0.0.1:0", "--redis", rs.URL(), "-v")
	rvA := w.rv
	rvB := start(t, "rendezvous", "--listen", "127.0.0.1:0", "--stun-listen", "127.0.0.1:0", "--redis", rs.URL(), "-v")
	urlB := "http://" + rvB.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1]
	urlA := w.rvURL
	target := serveBlob16(t)

	// The host takes both instances (the flag repeated) and registers with the first.
	host := w.startHost(t, "--rendezvous", urlB, "--allow", target.Addr().String())
	host.waitFor(`registered with the rendezvous.*rendezvous=`+regexp.QuoteMeta(urlA), 10*time.Second)
	rvA.waitFor(`host published in Redis.*host_id=`+w.hostID, 10*time.Second)

	forward := func(via string) (*proc, string) {
		t.Helper()
		v := start(t, "viewer", "forward", w.hostID, "--rendezvous", via, "--key", w.viewerKey, "--ice-loopback-only",
			"-L", "127.0.0.1:0:"+target.Addr().String())
		local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
		return v, local
	}
	_, local1 := forward(urlB)
	fetch16(t, local1)
	rvB.waitFor(`session created.*host_id=`+w.hostID+`.*instance=`, time.Second)

	// Redis goes away and comes back empty on the same port.
	rs.Stop()
	rvA.waitFor(`lost Redis`, 20*time.Second)
	rs.Restart()
	rvA.waitFor(`Redis is back`, 20*time.Second)
	rvA.waitMatch(`host published in Redis again.*host_id=`+w.hostID, 20*time.Second, nil)
	rvA.waitMatch(`listening on the cluster bus`, 20*time.Second, nth(2))
	rvB.waitMatch(`listening on the cluster bus`, 20*time.Second, nth(2))
	_, local2 := forward(urlB)
	fetch16(t, local2)

	// Instance A dies; the host moves to B.
	killed := time.Now()
	rvA.cmd.Process.Kill()
	host.waitFor(`registered with the rendezvous.*rendezvous=`+regexp.QuoteMeta(urlB), 5*time.Second)
	_, local3 := forward(urlB)
	t.Logf("host reachable through B %v after A was killed (re-registered, and a forward through B set up)", time.Since(killed).Round(time.Millisecond))
	fetch16(t, local3)
	// The session whose signaling went through A (and Redis's restart) is unaffected.
	fetch16(t, local1)
}
