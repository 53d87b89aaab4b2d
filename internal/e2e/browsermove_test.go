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
// authenticating; the host applies it to the running session, and the same page shows the
// host's screen again without reconnecting or authenticating.
//
// The screen changes just after the move, while the old path is dead: that frame is lost, and
// the screen then stays still. The page shows the change soon after the restart because the
// host sends a keyframe once the restart succeeded (session.requestKeyframe); without it the
// change came with the 5 s refresh and the keyframe the page's PLI then asked for, 4.6-4.8 s
// after the restart, against 0.3-1.4 s with it (logged below). No bound on that time here: at a
// load of 12 on two cores one relayed run took 3.5 s, and the refresh can land anywhere in the
// move, so a bound would either flake or not tell the two apart;
// session.TestICERestartRequestsKeyframe is the regression test.
//
// It runs on a direct path (two port-preserving NATs) and on a relayed one (two symmetric NATs,
// through the rendezvous's TURN relay, before and after the move).
func TestBrowserMovingNetwork(t *testing.T) {
	t.Run("direct", func(t *testing.T) { browserMovingNetwork(t, netlab.PortPreserving, false) })
	t.Run("relayed", func(t *testing.T) { browserMovingNetwork(t, netlab.Symmetric, true) })
}

// relayCredentialTTL is the relayed cell's TURN credential lifetime: the move comes after it,
// so the page's new relay allocation needs the fresh credentials of the restart's rendezvous
// session (the host keeps gathering with its set-up's, which no longer allocate).
const relayCredentialTTL = 3 * time.Second

func browserMovingNetwork(t *testing.T, kind netlab.Kind, relay bool) {
	var rvFlags []string
	if relay {
		rvFlags = []string{"--turn-credential-ttl", relayCredentialTTL.String()}
	}
	l := newBrowserLab(t, kind, kind, relay, rvFlags...)
	up, err := l.lab.AddUplink(l.ctx, l.viewer, "viewer", kind)
	if err != nil {
		t.Fatal(err)
	}
	b := l.open(t)
	host := l.host
	host.waitFor(`viewer connected`, 10*time.Second)
	if relay {
		// A relay on either end: the page's (its local candidate) or the host's.
		b.do("wait-text", "stats", "relay")
		time.Sleep(relayCredentialTTL + time.Second) // the set-up's credentials expire
	}

	moved := time.Now()
	if err := l.lab.Move(l.ctx, l.viewer, up); err != nil {
		t.Fatalf("moving the viewer to its second network: %v", err)
	}
	l.d.pat.Next() // sent on the dead path
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
	hostRestarted := time.Now()
	waitPattern(t, b, 1)
	picture := time.Since(hostRestarted)
	st = b.do("state")["state"].(map[string]any)
	if st["state"] != "verified" || st["verified"] != true {
		t.Errorf("page state after the move %v: want verified, on the same session", st)
	}
	if relay {
		b.do("wait-text", "stats", "relay")
	}
	t.Logf("the page was on the new network %v after the change (the restart itself, from the first sign of trouble: %v ms); the screen's change arrived %v after the change, %v after the host saw the restart",
		restarted.Round(time.Millisecond), st["lastRestartMs"], time.Since(moved).Round(time.Millisecond), picture.Round(time.Millisecond))
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-moving-network.png"))
}

// TestBrowserBehindSymmetricNATs: the page and the host each behind a symmetric NAT (a fresh
// port for every destination, inbound only what conntrack matched), where no direct path
// exists: the page finds the host through the rendezvous's TURN relay, with no flag or setting,
// and shows its screen.
func TestBrowserBehindSymmetricNATs(t *testing.T) {
	l := newBrowserLab(t, netlab.Symmetric, netlab.Symmetric, true)
	b := l.open(t)
	// The relayed end may be either: the overlay names the pair, the host logs it.
	b.do("wait-text", "stats", "relay")
	l.host.waitFor(`viewer connected.*path="?([a-z]+/relay|relay/[a-z]+)`, 10*time.Second)
	l.d.pat.Next()
	waitPattern(t, b, 1)
}

// browserLab is a NAT lab with the rendezvous (HTTPS, a test CA) on its internet, a desktop
// host in one peer namespace and Chromium in the other.
type browserLab struct {
	ctx          context.Context
	lab          *netlab.Lab
	d            *desktopWorld
	viewer       *netlab.Node
	host         *proc
	url, code    string
	spki, caFile string
	browserEnv   []string
}

func newBrowserLab(t *testing.T, hostKind, viewerKind netlab.Kind, relay bool, rvFlags ...string) *browserLab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	lab, err := netlab.New(ctx)
	if err != nil {
		t.Fatalf("building the NAT lab: %v", err)
	}
	t.Cleanup(func() { lab.Close() })
	hostNode, err := lab.AddPeer(ctx, "host", hostKind)
	if err != nil {
		t.Fatal(err)
	}
	viewerNode, err := lab.AddPeer(ctx, "viewer", viewerKind)
	if err != nil {
		t.Fatal(err)
	}
	l := &browserLab{ctx: ctx, lab: lab, viewer: viewerNode, d: newDesktopWorld(t)}
	ca := testca.New(t)
	certFile, keyFile, leaf := ca.WriteFiles(t, l.d.dir, "rv.lab.test", netlab.RendezvousIP)
	l.spki = testca.SPKIHash(leaf)
	l.caFile = filepath.Join(l.d.dir, "ca.pem")
	if err := os.WriteFile(l.caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	inNS := func(n *netlab.Node) []string { return []string{"ip", "netns", "exec", n.NS} }
	rvArgs := []string{"--listen", netlab.RendezvousIP + ":443", "--tls-cert", certFile, "--tls-key", keyFile, "--stun", lab.STUNURL()}
	if relay {
		rvArgs = append(rvArgs, "--turn", "--turn-listen", netlab.RelayIP+":443", "--public-ip", netlab.RelayIP)
	}
	rvArgs = append(rvArgs, rvFlags...)
	rv := startWith(t, nil, inNS(lab.Rendezvous()), "rendezvous", rvArgs...)
	rv.waitFor(`rendezvous listening`, 30*time.Second)
	l.url = "https://" + netlab.RendezvousIP

	l.host = startWith(t, []string{"SSL_CERT_FILE=" + l.caFile}, inNS(hostNode), "host", "--rendezvous", l.url,
		"--display", l.d.srv.Display(), "--key", filepath.Join(l.d.dir, "host.key"), "--authorized-viewers", l.d.authorized,
		"--audit-log", "", "--files-root", "", "--code")
	l.code = l.host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	l.host.waitFor(`registered`, 30*time.Second)

	// Chromium itself runs in the viewer's namespace: a wrapper execs it there.
	wrapper := filepath.Join(l.d.dir, "chromium-in-ns")
	script := "#!/bin/sh\nexec ip netns exec " + viewerNode.NS + " /usr/bin/chromium \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l.browserEnv = []string{"CHROMIUM=" + wrapper}
	return l
}

// open starts Chromium in the viewer's namespace, opens the page with the one-time code and
// waits until it shows the host's first picture.
func (l *browserLab) open(t *testing.T) *browser {
	t.Helper()
	b := startBrowserEnv(t, l.browserEnv, "--ignore-certificate-errors-spki-list="+l.spki)
	b.do("open", l.url+"/#"+l.d.hostID, l.code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	return b
}
