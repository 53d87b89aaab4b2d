package rendezvouscmd

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/testaddr"
	"github.com/deskport/deskport/internal/testca"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/web"
)

// leakCheck fails the test if goroutines outlive it, except the validation worker of the
// in-process Pebble, which Pebble never stops.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
	})
}

// serve runs s on ln (and httpLn) until the test ends.
func serve(t *testing.T, s *Server, ln, httpLn net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, httpLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func hostKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, identity.HostID(pub)
}

// register runs a host agent client against url until it has registered, then stops it.
func register(t *testing.T, url string, client *http.Client) {
	t.Helper()
	key, id := hostKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &rendezvous.HostClient{URL: url, Key: key, Dialer: client}
	errc := make(chan error, 1)
	go func() { errc <- hc.Run(ctx, func(s *rendezvous.Session) {}) }()
	// Registered means a viewer can reach it: ask for a session until the host is online.
	for {
		s, err := rendezvous.Dial(ctx, url, id, &rendezvous.DialOptions{HTTPClient: client})
		if err == nil {
			s.Close()
			break
		}
		if !errors.Is(err, rendezvous.ErrUnknownHost) || ctx.Err() != nil {
			cancel()
			t.Fatalf("a viewer could not reach host %s: %v (host: %v)", id, err, <-errc)
		}
		select {
		case err := <-errc:
			t.Fatalf("host Run = %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("host Run = %v", err)
	}
}

// TestHTTPSOnNonLoopbackAddress: the rendezvous serves HTTPS with a certificate from a test CA
// on an address of this machine that is not loopback; a host registers over wss with a client
// that trusts that CA, a viewer reaches it, and the browser viewer comes with the same headers
// as the host's embedded rendezvous serves. The certificate's names are the server's names.
func TestHTTPSOnNonLoopbackAddress(t *testing.T) {
	addr := testaddr.New(t)
	leakCheck(t)
	ca := testca.New(t)
	dir := t.TempDir()
	certFile, keyFile, _ := ca.WriteFiles(t, dir, "rv.https.test", addr.String())
	s, err := New(Config{TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), " "); got != addr.String()+" rv.https.test" {
		t.Errorf("names %q, want the certificate's", got)
	}
	if s.TLSConfig() == nil || s.DefaultListen() != ":443" {
		t.Errorf("TLS config %v, default listen %q", s.TLSConfig(), s.DefaultListen())
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln, nil)
	url := "https://" + ln.Addr().String()

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	// The page, with the viewer's security headers, byte for byte what web.Handler serves.
	resp, err := client.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := httptest.NewRecorder()
	web.Handler().ServeHTTP(want, httptest.NewRequest("GET", "/", nil))
	if resp.StatusCode != 200 || string(page) != want.Body.String() {
		t.Fatalf("GET / = %d, %d bytes; want the viewer page", resp.StatusCode, len(page))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy", "Permissions-Policy"} {
		if got := resp.Header.Get(h); got == "" || got != want.Header().Get(h) {
			t.Errorf("%s: %q, want %q", h, got, want.Header().Get(h))
		}
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].IPAddresses[0].String() != addr.String() {
		t.Errorf("not served over TLS with the test certificate")
	}

	register(t, url, client)

	// A client that does not trust the CA is refused by its own TLS check.
	if _, err := http.Get(url + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusting client got %v, want a certificate error", err)
	}
}

// TestPublicURLPinsRegistration: --public-url makes the server answer to that name only. Its
// challenge names it, and a proof signed for the name a relaying rendezvous would put in the
// Host header is refused; a host that dialled the public name registers.
func TestPublicURLPinsRegistration(t *testing.T) {
	leakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	s, err := New(Config{PublicURLs: []string{public}})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	relayName := "relay.example:8080"
	ws, _, err := websocket.Dial(ctx, public+"/v1/host", &websocket.DialOptions{Host: relayName})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := signaling.Decode(b)
	if err != nil || ch.Type != signaling.TypeChallenge {
		t.Fatalf("challenge %s: %v", b, err)
	}
	if strings.Join(ch.Names, " ") != ln.Addr().String() {
		t.Errorf("challenge names %q, want %q", ch.Names, ln.Addr().String())
	}
	key, _ := hostKey(t)
	nonce, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	sig := ed25519.Sign(key, signaling.RegisterProof(relayName, nonce))
	reg, _ := signaling.Encode(&signaling.Message{Type: signaling.TypeRegister, Version: "t",
		PublicKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), Signature: base64.StdEncoding.EncodeToString(sig)})
	if err := ws.Write(ctx, websocket.MessageText, reg); err != nil {
		t.Fatal(err)
	}
	_, b, err = ws.Read(ctx)
	if m, derr := signaling.Decode(b); err != nil || derr != nil || m.Code != signaling.CodeBadSignature {
		t.Fatalf("a proof for the relay's name got %s (%v), want bad_signature", b, err)
	}

	register(t, public, nil)
}

func TestConfigRefusals(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"cert without key", Config{TLSCert: "c.pem"}, "--tls-key"},
		{"cert and acme", Config{TLSCert: "c.pem", TLSKey: "k.pem", ACME: []string{"a.example"}}, "exclude"},
		{"http listener without acme", Config{ACMEHTTPListen: ":80"}, "--acme"},
		{"acme ip", Config{ACME: []string{"192.0.2.1"}, ACMECache: "x"}, "DNS name"},
		{"acme wildcard", Config{ACME: []string{"*.example.com"}, ACMECache: "x"}, "DNS name"},
		{"public url path", Config{PublicURLs: []string{"https://rv.example.com/x"}}, "--public-url"},
		{"public url scheme", Config{PublicURLs: []string{"rv.example.com"}}, "--public-url"},
		{"missing files", Config{TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"}, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
