package host

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/web"
)

// embeddedRendezvous is the in-process rendezvous a host runs when none is configured, so that
// `host` alone is a working setup on one machine or a LAN: it serves the browser viewer too,
// over HTTPS when given a certificate (browsers on other machines need it).
type embeddedRendezvous struct {
	url    string       // what the host agent dials
	link   string       // what a person opens in a browser
	dialer *http.Client // trusts exactly the certificate served, when TLS is on
	cancel context.CancelFunc
	done   chan error
}

func startEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (*embeddedRendezvous, error) {
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	rc := rendezvous.Config{Logger: log.With("component", "rendezvous"), Web: web.Handler()}
	var certs *rendezvous.CertFiles
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		var err error
		if certs, err = rendezvous.LoadCertFiles(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cannot start the embedded rendezvous on %s: %w (is another host running? choose another address with --listen, or use --rendezvous URL)", listen, err)
	}
	e := &embeddedRendezvous{url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	e.link = e.url
	if certs != nil {
		// The agent dials its own rendezvous on loopback and trusts exactly the certificate
		// it serves; browsers use a name of the certificate.
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		self := net.JoinHostPort("127.0.0.1", port)
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
			self = ln.Addr().String()
		}
		e.url = "https://" + self
		e.link = "https://" + self
		names := certs.Names()
		if len(names) > 0 && (listenUnspecified(ln.Addr()) || !containsHost(names, ln.Addr())) {
			e.link = "https://" + net.JoinHostPort(trimBrackets(names[0]), port)
		}
		// Only the certificate's names (and the agent's own loopback name) verify a
		// registration, so a rendezvous relaying registrations cannot use this one.
		rc.PublicHosts = append(names, self)
		e.dialer = pinnedClient(certs)
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: certs.GetCertificate, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	}
	srv, err := rendezvous.New(rc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	go func() { e.done <- srv.Serve(ctx, ln) }()
	log.Info("embedded rendezvous listening", "addr", ln.Addr().String(), "tls", certs != nil)
	return e, nil
}

// pinnedClient is an HTTP client that accepts exactly the certificate certs serves, whatever
// name it carries: the agent dials its own process.
func pinnedClient(certs *rendezvous.CertFiles) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, certs.Leaf().Raw) {
				return errors.New("the embedded rendezvous presented a certificate other than the one this host loaded")
			}
			return nil
		},
	}}}
}

func listenUnspecified(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsUnspecified()
}

func containsHost(names []string, a net.Addr) bool {
	host, _, _ := net.SplitHostPort(a.String())
	for _, n := range names {
		if trimBrackets(n) == host {
			return true
		}
	}
	return false
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

func (e *embeddedRendezvous) close() {
	e.cancel()
	<-e.done
}
