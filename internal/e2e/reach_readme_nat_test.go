package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/netlab"
	"github.com/deskport/deskport/internal/testca"
)

// TestREADMESupportSessionAcrossNATs is README's support session across two NATs with the
// rendezvous set up as "A rendezvous on the internet" says — one public address, HTTPS (a
// certificate from a private CA instead of --acme, trusted with SSL_CERT_FILE as the README
// says), `--turn --public-ip ADDR` and nothing else: the built-in STUN and TURN on their
// default port 3478, handed out under the name hosts and viewers dialled. The lab's other
// cells hand out a STUN server of the test's and run the relay on a port and address of its
// own; this one uses only what the README's command starts.
//
// The host sits behind a port-preserving NAT, started with `--code --grant view,forward`; the
// viewer behind a symmetric NAT (no direct path: only the relay) runs `viewer forward ID
// --code CODE -L ...`, and 1 MiB crosses byte-exact.
func TestREADMESupportSessionAcrossNATs(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := netlab.New(ctx)
	if err != nil {
		t.Fatalf("building the NAT lab: %v", err)
	}
	t.Cleanup(func() { lab.Close() })
	hostNode, err := lab.AddPeer(ctx, "host", netlab.PortPreserving)
	if err != nil {
		t.Fatal(err)
	}
	viewerNode, err := lab.AddPeer(ctx, "viewer", netlab.Symmetric)
	if err != nil {
		t.Fatal(err)
	}
	const name = "rv.lab.test"
	for _, n := range []*netlab.Node{hostNode, viewerNode} {
		etc := filepath.Join("/etc/netns", n.NS)
		if err := os.MkdirAll(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(etc) })
		if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n"+netlab.RendezvousIP+" "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ca := testca.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, dir, name)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	inNS := func(n *netlab.Node) []string { return []string{"ip", "netns", "exec", n.NS} }

	rv := startWith(t, nil, inNS(lab.Rendezvous()), "rendezvous", "--listen", ":443", "--tls-cert", certFile, "--tls-key", keyFile,
		"--turn", "--public-ip", netlab.RendezvousIP)
	rv.waitFor(`rendezvous listening`, 30*time.Second)

	payload := make([]byte, 1<<20)
	rand.Read(payload)
	var target net.Listener
	if err := hostNode.Do(func() (err error) { target, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); c.Write(payload) }()
		}
	}()

	env := []string{"SSL_CERT_FILE=" + caFile}
	url := "https://" + name
	host := startWith(t, env, inNS(hostNode), "host", "--rendezvous", url, "--code", "--grant", "view,forward",
		"--allow", target.Addr().String(), "--no-desktop", "--key", filepath.Join(dir, "host.key"),
		"--audit-log", "", "--files-root", "")
	hostID := host.waitFor(`host ID: (\S+)`, 30*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	viewer := startWith(t, env, inNS(viewerNode), "viewer", "forward", hostID, "--code", code,
		"-L", "127.0.0.1:0:"+target.Addr().String(), "--rendezvous", url, "--key", filepath.Join(dir, "viewer.key"))
	m := viewer.waitFor(`path ([^,]+),`, 40*time.Second)
	t.Logf("path %s", m[1])
	local := viewer.waitFor(`forwarding (\S+) -> `, 10*time.Second)[1]
	c, err := viewerNode.Dial(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	if !bytes.Equal(got, payload) {
		a, b := sha256.Sum256(got), sha256.Sum256(payload)
		t.Fatalf("got %d bytes (SHA-256 %x), want %d (%x)", len(got), a, len(payload), b)
	}
	host.waitFor(`viewer connected.*method=code`, 10*time.Second)
}
