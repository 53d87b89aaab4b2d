package rendezvouscmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/deskport/deskport/internal/testca"
)

// acmeName is the name the rendezvous gets a certificate for. The test's DNS server, which
// Pebble's validation authority asks, points it at 127.0.0.1.
const acmeName = "rv.https.test"

// logBuffer collects Pebble's log, which says how each challenge was validated.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDNS answers A queries for every name with 127.0.0.1 and AAAA with nothing, over TCP
// (what Pebble's resolver uses).
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && strings.EqualFold(q.Name, acmeName+".") {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.ActivateAndServe() }()
	t.Cleanup(func() { srv.Shutdown(); <-done })
	return ln.Addr().String()
}

// pebble is Let's Encrypt's test ACME server, run in this process: its directory on an HTTPS
// listener with a certificate from a test CA, and a validation authority that really fetches
// the challenges, from the ports given, at the address the test DNS server gives.
type pebble struct {
	directory string
	client    *http.Client // trusts the directory's certificate
	roots     *x509.CertPool
	log       *logBuffer
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once instead of after a random 0-15 s
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately refused nonces (5% by default)
	dnsAddr := startDNS(t)
	logs := &logBuffer{}
	logger := log.New(logs, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	tca := testca.New(t)
	certPEM, keyPEM, _ := tca.Issue(t, "127.0.0.1")
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: front.Handler(), ErrorLog: logger}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tca.Pool()}}
	t.Cleanup(func() { srv.Close(); <-done; tr.CloseIdleConnections() })

	// autocert gives up the authorizations it no longer needs in a goroutine of its own, after
	// the certificate is issued; Pebble must outlive it.
	t.Cleanup(func() { waitGone(t, "autocert.(*Manager).deactivatePendingAuthz") })

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{directory: "https://" + ln.Addr().String() + wfe.DirectoryPath, client: &http.Client{Transport: tr}, roots: roots, log: logs}
}

// waitGone waits until no goroutine runs fn (bounded: a hang guard, not a timing assertion).
func waitGone(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still runs after 30 s", fn)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestACMEWithPebble gets a certificate from Pebble by each challenge type, with the
// validation done for real against the rendezvous's listeners, and then registers a host over
// wss with a client that trusts Pebble's root (and nothing else).
func TestACMEWithPebble(t *testing.T) {
	for _, tt := range []struct {
		name string
		// httpOnly points the validation authority's TLS-ALPN-01 port at the HTTP-01 listener,
		// where no TLS answers, so that autocert falls back to HTTP-01.
		httpOnly bool
		wantLog  string
	}{
		{"tls-alpn-01", false, "set VALID by completed challenge"},
		{"http-01", true, "Attempting to validate w/ HTTP: http://" + acmeName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			httpLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			httpPort, tlsPort := httpLn.Addr().(*net.TCPAddr).Port, ln.Addr().(*net.TCPAddr).Port
			if tt.httpOnly {
				tlsPort = httpPort
			}
			pb := startPebble(t, httpPort, tlsPort)
			cache := t.TempDir()
			s, err := New(Config{
				ACME: []string{acmeName}, ACMEEmail: "ops@" + acmeName, ACMECache: cache,
				ACMEDirectory: pb.directory, ACMEHTTPClient: pb.client, ACMEHTTPListen: httpLn.Addr().String(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(s.Names(), " ") != acmeName {
				t.Errorf("names %q, want %q (implied by --acme)", s.Names(), acmeName)
			}
			serve(t, s, ln, httpLn)

			// A client that knows the name resolves it to the rendezvous's listener and trusts
			// only Pebble's root. Its first handshake makes the rendezvous get the certificate.
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, ln.Addr().String())
			}
			tr := &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pb.roots}, TLSHandshakeTimeout: 60 * time.Second}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
			url := "https://" + acmeName
			resp, err := client.Get(url + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz over the ACME certificate: %v\npebble log:\n%s", err, pb.log.String())
			}
			resp.Body.Close()
			leaf := resp.TLS.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeName {
				t.Errorf("certificate for %v, want %s", leaf.DNSNames, acmeName)
			}
			if !strings.Contains(pb.log.String(), tt.wantLog) {
				t.Errorf("Pebble's log lacks %q:\n%s", tt.wantLog, pb.log.String())
			}
			if tt.httpOnly && !strings.Contains(pb.log.String(), "tls-alpn-01") {
				t.Logf("note: Pebble did not log the failed tls-alpn-01 attempt")
			}
			// The certificate is cached for the next start.
			if entries, _ := os.ReadDir(cache); len(entries) < 2 {
				t.Errorf("ACME cache %s holds %d entries, want the account key and the certificate", cache, len(entries))
			}
			if _, err := os.Stat(filepath.Join(cache, acmeName)); err != nil {
				t.Errorf("no cached certificate: %v", err)
			}

			register(t, url, client)

			// The HTTP-01 listener sends everything else to https.
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err = noFollow.Get("http://" + httpLn.Addr().String() + "/#abc")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://") {
				t.Errorf("plain http got %d %q, want a redirect to https", resp.StatusCode, loc)
			}
			noFollow.CloseIdleConnections()
		})
	}
}
