package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testaddr"
	"github.com/deskport/deskport/internal/testca"
	"github.com/deskport/deskport/internal/xpattern/xpatterntest"
	"github.com/deskport/deskport/screen/xvfb"
)

// TestBrowserHTTPSRendezvous: the standalone rendezvous serves the viewer over HTTPS, with a
// certificate from a CA made in the test, from another network namespace (a second machine
// over a veth link, so the browser treats it as a remote server). The host registers over wss
// trusting that CA (SSL_CERT_FILE); headless Chromium trusts the certificate's key
// (--ignore-certificate-errors-spki-list), opens the page, authenticates with the one-time code
// and sees the host's screen.
func TestBrowserHTTPSRendezvous(t *testing.T) {
	ns := testaddr.NewNamespace(t)
	addr := ns.Inside
	d := newDesktopWorld(t)
	ca := testca.New(t)
	certFile, keyFile, leaf := ca.WriteFiles(t, d.dir, "rv.https.test", addr.String())
	caFile := filepath.Join(d.dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	rv := startWith(t, nil, ns.Command(), "rendezvous", "--listen", net.JoinHostPort(addr.String(), "0"), "--tls-cert", certFile, "--tls-key", keyFile)
	rvAddr := rv.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1]
	url := "https://" + rvAddr

	host := startEnv(t, []string{"SSL_CERT_FILE=" + caFile}, "host", "--rendezvous", url, "--display", d.srv.Display(),
		"--key", filepath.Join(d.dir, "host.key"), "--authorized-viewers", d.authorized, "--ice-loopback-only", "--code")
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	// Without the key trusted, Chromium refuses the certificate: the trust below is the flag's.
	untrusting := startBrowser(t)
	if res := untrusting.try("goto", url+"/"); res["ok"] == true || !strings.Contains(jsonString(res["error"]), "ERR_CERT") {
		t.Fatalf("a browser that does not trust the test CA loaded the page: %v", res)
	}

	b := startBrowser(t, "--ignore-certificate-errors-spki-list="+testca.SPKIHash(leaf))
	b.do("open", url+"/#"+d.hostID, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-https-rendezvous.png"))
	st := b.do("state")["state"].(map[string]any)
	if st["verified"] != true || st["method"] != "code" || st["insecure"] == true {
		t.Errorf("page state %v: want verified by code in a secure context", st)
	}
	d.pat.Next()
	waitPattern(t, b, 1)
}

// TestBrowserPlainHTTPRemote: the same page over plain http from another network namespace is
// not a secure context; instead of failing on a missing crypto.subtle it says what is wrong and
// which flags fix it, and connects nowhere.
func TestBrowserPlainHTTPRemote(t *testing.T) {
	ns := testaddr.NewNamespace(t)
	rv := startWith(t, nil, ns.Command(), "rendezvous", "--listen", net.JoinHostPort(ns.Inside.String(), "0"))
	rvAddr := rv.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1]

	b := startBrowser(t)
	b.do("goto", "http://"+rvAddr+"/#aaaaaaaaaaaaaaaaaaaaaaaa")
	// The footer names the build that serves the page, as its --version says.
	ver, err := run(t, "rendezvous", "--version")
	if err != nil {
		t.Fatalf("rendezvous --version: %v: %s", err, ver)
	}
	if got, want := b.do("text", "#version")["text"], "deskport "+strings.TrimPrefix(strings.TrimSpace(ver), "rendezvous "); got != want {
		t.Errorf("the page's footer shows %q, want %q", got, want)
	}
	res := b.do("wait-error")
	msg, _ := res["error"].(string)
	for _, want := range []string{"plain http", "HTTPS", "--acme", "--tls-cert", "localhost", "native viewer"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the page's message lacks %q:\n%s", want, msg)
		}
	}
	st := res["state"].(map[string]any)
	if st["insecure"] != true || st["state"] != "failed" {
		t.Errorf("page state %v: want failed, insecure", st)
	}
	logs := b.do("logs")["logs"]
	if strings.Contains(strings.ToLower(jsonString(logs)), "pageerror") {
		t.Errorf("the page threw: %v", logs)
	}
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-plain-http-remote.png"))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBrowserEmbeddedHTTPS: `host --listen ADDR --tls-cert … --tls-key …` serves its embedded
// rendezvous over HTTPS on a non-loopback address; the host registers with itself over wss
// (trusting exactly the certificate it loaded), prints an https link, and the browser opened on
// it sees the screen.
func TestBrowserEmbeddedHTTPS(t *testing.T) {
	addr := testaddr.New(t)
	d := newDesktopWorld(t)
	ca := testca.New(t)
	certFile, keyFile, leaf := ca.WriteFiles(t, d.dir, "host.https.test", addr.String())
	_, link, code := d.startDesktopHost(t, "--listen", net.JoinHostPort(addr.String(), "0"), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(link, "https://"+addr.String()+":") {
		t.Fatalf("the host printed %s, want an https link on %s", link, addr)
	}
	b := startBrowser(t, "--ignore-certificate-errors-spki-list="+testca.SPKIHash(leaf))
	b.do("open", link, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
}

// TestBrowserRelayOnly: the page opened with "?relay" (the Relay only box) builds its peer
// connection with iceTransportPolicy "relay", so it connects through the standalone rendezvous's
// TURN relay; the overlay shows the relayed path and the host logs it. Everything is on loopback,
// so the relay runs with --turn-allow-private.
func TestBrowserRelayOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 1280, Height: 720})
	if err != nil {
		cancel()
		t.Fatalf("starting Xvfb: %v", err)
	}
	t.Cleanup(func() { srv.Close(); cancel() })
	w := newWorldWith(t, "--stun-listen", "off", "--turn", "--turn-listen", "127.0.0.1:0",
		"--public-ip", "127.0.0.1", "--turn-allow-private")
	w.rv.waitFor(`TURN relay ready`, 10*time.Second)
	d := &desktopWorld{world: w, srv: srv, pat: xpatterntest.Start(t, bin("xpattern"), srv, "blocks")}
	host := w.startHost(t, "--display", d.srv.Display(), "--code")
	code := host.waitFor(`one-time code: (\S+)`, 5*time.Second)[1]

	b := startBrowser(t)
	b.do("open", w.rvURL+"/#"+w.hostID+"?relay", code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	overlay := b.do("wait-text", "stats", "path relay/")["text"].(string)
	if !strings.Contains(overlay, "via TURN over UDP") {
		t.Errorf("the overlay does not show a relayed UDP path:\n%s", overlay)
	}
	st := b.do("state")["state"].(map[string]any)
	if st["relayOnly"] != true {
		t.Errorf("page state %v: want relayOnly", st)
	}
	host.waitFor(`viewer connected.*path="?[a-z]+/relay`, 10*time.Second)
	w.rv.waitFor(`relay allocation`, 10*time.Second)
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-relay-only.png"))
}
