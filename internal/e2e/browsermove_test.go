package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/netlab"
	"github.com/deskport/deskport/internal/testca"
)

// TestBrowserMovingNetwork: the browser page survives a change of network, as the native
// viewer does (docs/session.md, "Moving networks"). Chromium runs in the NAT lab's viewer
// namespace behind a port-preserving NAT, the host behind another, the rendezvous (HTTPS, with a
// certificate from a test CA) on the lab's internet. Once the page shows the host's screen, the
// viewer's interface and address go away and its default route moves to a second NAT with
// another public address, as when a laptop goes from Wi-Fi to a cable. The page restarts ICE
// through a fresh rendezvous session with the restart proof it gave the host after
// authenticating; the host applies it to the running session, and the next picture on the host
// reaches the same page without reconnecting or authenticating again.
func TestBrowserMovingNetwork(t *testing.T) {
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
	viewerNode, err := lab.AddPeer(ctx, "viewer", netlab.PortPreserving)
	if err != nil {
		t.Fatal(err)
	}
	up, err := lab.AddUplink(ctx, viewerNode, "viewer", netlab.PortPreserving)
	if err != nil {
		t.Fatal(err)
	}

	d := newDesktopWorld(t)
	ca := testca.New(t)
	certFile, keyFile, leaf := ca.WriteFiles(t, d.dir, "rv.moving.test", netlab.RendezvousIP)
	caFile := filepath.Join(d.dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	inNS := func(n *netlab.Node) []string { return []string{"ip", "netns", "exec", n.NS} }
	rv := startWith(t, nil, inNS(lab.Rendezvous()), "rendezvous", "--listen", netlab.RendezvousIP+":443",
		"--tls-cert", certFile, "--tls-key", keyFile, "--stun", lab.STUNURL())
	rv.waitFor(`rendezvous listening`, 30*time.Second)
	url := "https://" + netlab.RendezvousIP

	host := startWith(t, []string{"SSL_CERT_FILE=" + caFile}, inNS(hostNode), "host", "--rendezvous", url,
		"--display", d.srv.Display(), "--key", filepath.Join(d.dir, "host.key"), "--authorized-viewers", d.authorized,
		"--audit-log", "", "--files-root", "", "--code")
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	// Chromium itself runs in the viewer's namespace: a wrapper execs it there.
	wrapper := filepath.Join(d.dir, "chromium-in-ns")
	script := "#!/bin/sh\nexec ip netns exec " + viewerNode.NS + " /usr/bin/chromium \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBrowserEnv(t, []string{"CHROMIUM=" + wrapper}, "--ignore-certificate-errors-spki-list="+testca.SPKIHash(leaf))
	b.do("open", url+"/#"+d.hostID, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	host.waitFor(`viewer connected`, 10*time.Second)

	moved := time.Now()
	if err := lab.Move(ctx, viewerNode, up); err != nil {
		t.Fatalf("moving the viewer to its second network: %v", err)
	}
	var st map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; {
		st = b.do("state")["state"].(map[string]any)
		if n, _ := st["restarts"].(float64); n >= 1 {
			break
		}
		if st["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("the page did not move the session to the new network: state %v\nlogs: %v", st, b.do("logs")["logs"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	restarted := time.Since(moved)
	host.waitFor(`the viewer restarted ICE`, 20*time.Second)
	d.pat.Next()
	waitPattern(t, b, 1)
	st = b.do("state")["state"].(map[string]any)
	if st["state"] != "verified" || st["verified"] != true {
		t.Errorf("page state after the move %v: want verified, on the same session", st)
	}
	t.Logf("the page was on the new network %v after the change (the restart itself, from the first sign of trouble: %v ms); the next picture arrived %v after the change",
		restarted.Round(time.Millisecond), st["lastRestartMs"], time.Since(moved).Round(time.Millisecond))
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-moving-network.png"))
}
