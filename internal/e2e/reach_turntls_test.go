package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/deskport/deskport/internal/testaddr"
	"github.com/deskport/deskport/internal/testca"
)

// TestACMECoversTURNOverTLSName runs README's relay line on a "VM" (a network namespace whose
// /etc/hosts names it rv.reach.test and turn.reach.test): `rendezvous --acme rv.reach.test
// --turn --turn-tls-listen turn.reach.test:5349`, with Pebble as the ACME CA. A TURN-over-TLS
// client dials turn.reach.test and asks for that name's certificate; the rendezvous must get
// one for it. Before, autocert refused the handshake ("not configured in HostWhitelist"), so
// TURN over TLS never worked with --acme unless the relay's name was also given to --acme,
// which nothing said.
func TestACMECoversTURNOverTLSName(t *testing.T) {
	ns := testaddr.NewNamespace(t)
	inside := ns.Inside.String()
	const rvName, turnName = "rv.reach.test", "turn.reach.test"

	// The VM resolves its own names (the listener is given by name, as in the README).
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n"+inside+" "+rvName+" "+turnName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The CA's DNS: both names are the VM.
	dnsLn, err := net.Listen("tcp", ns.Outside.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{Listener: dnsLn, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && (strings.EqualFold(q.Name, rvName+".") || strings.EqualFold(q.Name, turnName+".")) {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(inside)})
			}
		}
		w.WriteMsg(m)
	})}
	dnsDone := make(chan struct{})
	go func() { defer close(dnsDone); dnsSrv.ActivateAndServe() }()
	t.Cleanup(func() { dnsSrv.Shutdown(); <-dnsDone })

	// Pebble, on this side of the link, validating against the VM's ports 443 (TLS-ALPN-01)
	// and 80 (HTTP-01).
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := &lockedBuffer{}
	logger := log.New(logs, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 80, 443, false, dnsLn.Addr().String(), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	// Its directory over HTTPS (as ACME requires), from a test root the rendezvous trusts.
	tca := testca.New(t)
	certPEM, keyPEM, _ := tca.Issue(t, ns.Outside.String())
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pln, err := tls.Listen("tcp", ns.Outside.String()+":0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, tca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	psrv := &http.Server{Handler: front.Handler(), ErrorLog: logger}
	pdone := make(chan struct{})
	go func() { defer close(pdone); psrv.Serve(pln) }()
	t.Cleanup(func() { psrv.Close(); <-pdone })
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)

	rv := startWith(t, []string{"SSL_CERT_FILE=" + caFile}, ns.Command(), "rendezvous", "--acme", rvName, "--acme-directory", "https://"+pln.Addr().String()+wfe.DirectoryPath,
		"--acme-cache", t.TempDir(), "--turn", "--public-ip", inside, "--turn-tls-listen", turnName+":5349")
	rv.waitFor(`rendezvous listening`, 30*time.Second)
	rv.waitFor(`TURN relay ready.*tls_port=5349`, 5*time.Second)

	// A TURN-over-TLS client: it dials the relay's name and trusts only the CA's root. The
	// first handshake makes the rendezvous get the certificate.
	d := &net.Dialer{Timeout: 60 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(inside, "5349"), &tls.Config{ServerName: turnName, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS handshake with the TURN-over-TLS listener as %s: %v\npebble log:\n%s", turnName, err, logs.String())
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if !slices.Contains(leaf.DNSNames, turnName) {
		t.Errorf("the TURN-over-TLS certificate is for %v, want %s", leaf.DNSNames, turnName)
	}
	// The relay's name is not one that hosts register under: only --acme's are.
	if m := rv.waitFor(`rendezvous listening.*names=\[([^\]]*)\]`, time.Second); strings.Contains(m[1], turnName) {
		t.Errorf("the TURN relay's name became a public name of the rendezvous: %s", m[0])
	}
}

// lockedBuffer collects a log written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
