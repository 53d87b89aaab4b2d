package rendezvouscmd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/web"
)

// Config is the command line in library form: what `rendezvous` listens on, where its
// certificate comes from and which names it answers to. The zero value is a plain-http
// rendezvous on 127.0.0.1:8080.
type Config struct {
	// Listen is the main listener: the WebSocket endpoints and the browser viewer. Empty
	// means 127.0.0.1:8080, or :443 when TLS is on.
	Listen string
	// TLSCert and TLSKey are PEM files; the certificate is reloaded when they change.
	TLSCert, TLSKey string
	// ACME lists the names to get certificates for from an ACME CA (Let's Encrypt by default);
	// they must resolve to this machine and port 443 (TLS-ALPN-01) or ACMEHTTPListen's port 80
	// (HTTP-01) must reach it.
	ACME []string
	// ACMETURNName is a name the ACME certificates also cover without it being one of the
	// server's public names: the TURN-over-TLS relay's, from --turn-tls-listen NAME:PORT, whose
	// clients ask for that name.
	ACMETURNName string
	// ACMEEmail is given to the CA for expiry notices; optional.
	ACMEEmail string
	// ACMECache is where the account key and certificates are kept across restarts. Empty
	// means $STATE_DIRECTORY/acme under systemd, else the user cache directory (~/.cache/deskport/acme).
	ACMECache string
	// ACMEDirectory is the CA's directory URL; empty means Let's Encrypt's production one.
	ACMEDirectory string
	// ACMEHTTPListen is the listener for HTTP-01 challenges (and a redirect to https for
	// anything else); empty means none, TLS-ALPN-01 on the main listener only.
	ACMEHTTPListen string
	// ACMEHTTPClient talks to the CA; nil means the system's roots. Tests set it to trust a
	// test CA.
	ACMEHTTPClient *http.Client
	// MetricsListen, when set, serves the Prometheus series at /metrics on this address, a
	// listener of its own: empty means no metrics endpoint. It may not be Listen's address,
	// so that the series never reach the public port by accident.
	MetricsListen string
	// PublicURLs are URLs hosts and viewers use to reach this server; their host parts join
	// the names the server answers to (rendezvous.Config.PublicHosts).
	PublicURLs []string
	// Rendezvous is the signaling server's own configuration. Its Web is set to the browser
	// viewer, and its PublicHosts extended with the names above.
	Rendezvous rendezvous.Config
	// StartICE, when set, opens the built-in STUN/TURN servers once the certificate is known
	// (tlsConfig is nil for plain http; TURN over TLS serves the same certificate) and returns
	// what the rendezvous hands out; the closer stops them when the server stops.
	StartICE func(tlsConfig *tls.Config) (*rendezvous.ICEConfig, io.Closer, error)
}

// Server is a configured `rendezvous`: its signaling server, its certificates and its names.
// New builds it without listening; Run or Serve serve it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	srv   *rendezvous.Server
	tls   *tls.Config // nil for plain http
	acme  *autocert.Manager
	names []string
	ice   io.Closer // the built-in STUN/TURN servers; nil without

	// Ready, when set, is called once the server listens, with its address; what it returns is
	// called when the server stops (the service manager's readiness and watchdog).
	Ready func(addr string) (stop func())
}

// New checks cfg, loads the certificate or sets up ACME, and works out the server's names.
func New(cfg Config) (*Server, error) {
	log := cfg.Rendezvous.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if len(cfg.ACME) > 0 {
			return nil, errors.New("--tls-cert and --acme exclude each other: give certificate files, or let ACME get them")
		}
		cf, err := rendezvous.LoadCertFiles(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			return nil, err
		}
		s.tls = &tls.Config{GetCertificate: cf.GetCertificate, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		s.names = append(s.names, cf.Names()...)
	}
	if cfg.ACMEHTTPListen != "" && len(cfg.ACME) == 0 {
		return nil, errors.New("--acme-http-listen needs --acme NAME")
	}
	if len(cfg.ACME) > 0 {
		if err := s.setupACME(); err != nil {
			return nil, err
		}
	}
	for _, raw := range cfg.PublicURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("--public-url %q: give the URL hosts and viewers use, like https://rv.example.com or http://203.0.113.5:8080", raw)
		}
		s.names = append(s.names, signaling.CanonicalHost(u.Host))
	}
	for _, n := range cfg.Rendezvous.PublicHosts {
		s.names = append(s.names, signaling.CanonicalHost(n))
	}
	slices.Sort(s.names)
	s.names = slices.Compact(s.names)
	if len(s.names) > signaling.MaxNames {
		return nil, fmt.Errorf("this rendezvous has %d names (%s) from its certificate, --acme and --public-url; at most %d fit in a challenge: list the ones hosts use with --public-url", len(s.names), strings.Join(s.names, ", "), signaling.MaxNames)
	}

	rc := cfg.Rendezvous
	if cfg.StartICE != nil {
		var tc *tls.Config
		if s.tls != nil {
			tc = s.tls.Clone()
			tc.NextProtos = nil
		}
		ice, closer, err := cfg.StartICE(tc)
		if err != nil {
			return nil, err
		}
		rc.ICE, s.ice = ice, closer
	}
	rc.Logger = log
	rc.Web = web.Handler()
	rc.PublicHosts = s.names
	srv, err := rendezvous.New(rc)
	if err != nil {
		if s.ice != nil {
			s.ice.Close()
		}
		return nil, err
	}
	s.srv = srv
	if svc, ok := s.ice.(*iceService); ok && svc.turn != nil {
		srv.Metrics().Registry().MustRegister(newRelayCollector(svc.turn.Stats))
	}
	return s, nil
}

// defaultACMECache is where --acme keeps its account key and certificates without
// --acme-cache: the service's state directory under systemd ($STATE_DIRECTORY, which the unit's
// StateDirectory= makes writable; a DynamicUser's home is "/", read-only under
// ProtectSystem=strict), otherwise ~/.cache/deskport/acme.
func defaultACMECache() (string, error) {
	if state, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); state != "" {
		return filepath.Join(state, "acme"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("--acme: no cache directory (%w); give one with --acme-cache", err)
	}
	return filepath.Join(dir, "deskport", "acme"), nil
}

func (s *Server) setupACME() error {
	cache := s.cfg.ACMECache
	if cache == "" {
		var err error
		if cache, err = defaultACMECache(); err != nil {
			return err
		}
	}
	var names []string
	for _, n := range s.cfg.ACME {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n == "" || strings.ContainsAny(n, ":/*") || net.ParseIP(n) != nil {
			return fmt.Errorf("--acme %q: give a DNS name that resolves to this machine, like rv.example.com (no port, scheme, wildcard or IP address)", n)
		}
		names = append(names, n)
	}
	dir := s.cfg.ACMEDirectory
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	allowed := names
	if n := strings.ToLower(strings.TrimSuffix(s.cfg.ACMETURNName, ".")); n != "" && !slices.Contains(names, n) {
		allowed = append(slices.Clone(names), n)
	}
	s.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cache),
		HostPolicy: autocert.HostWhitelist(allowed...),
		Email:      s.cfg.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: s.cfg.ACMEHTTPClient, UserAgent: "deskport-rendezvous"},
	}
	get := s.acme.GetCertificate
	s.tls = &tls.Config{
		// A client that sends no server name (one that dialled an IP address) gets the first
		// name's certificate, and a clear name mismatch, rather than a handshake failure.
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName == "" {
				h := *hello
				h.ServerName = names[0]
				hello = &h
			}
			return get(hello)
		},
		NextProtos: []string{"http/1.1", acme.ALPNProto},
		MinVersion: tls.VersionTLS12,
	}
	s.names = append(s.names, names...)
	s.log.Info("certificates from ACME", "names", allowed, "directory", dir, "cache", cache)
	return nil
}

// TLSConfig is the configuration of the HTTPS listener, nil for plain http. Its GetCertificate
// serves the certificate files (reloaded when they change) or the ACME certificates; other
// TLS listeners of the same server (TURN over TLS) should use a Clone with their own
// NextProtos.
func (s *Server) TLSConfig() *tls.Config { return s.tls }

// Names are the names this server answers to: from the certificate, --acme and --public-url.
// Empty means it takes the Host header of each request (see rendezvous.Config.PublicHosts).
func (s *Server) Names() []string { return slices.Clone(s.names) }

// Rendezvous is the signaling server.
func (s *Server) Rendezvous() *rendezvous.Server { return s.srv }

// DefaultListen is the main listener's address when Config.Listen is empty.
func (s *Server) DefaultListen() string {
	if s.cfg.Listen != "" {
		return s.cfg.Listen
	}
	if s.tls != nil {
		return ":443"
	}
	return "127.0.0.1:8080"
}

// Run listens on the configured addresses and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	addr := s.DefaultListen()
	if m := s.cfg.MetricsListen; m != "" && sameAddr(m, addr) {
		return fmt.Errorf("--metrics-listen %s is the public --listen address: give the metrics a listener of their own, e.g. 127.0.0.1:9090", m)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is the port in use? choose another with --listen; ports below 1024 need root or CAP_NET_BIND_SERVICE)", addr, err)
	}
	ls := Listeners{Main: ln}
	if s.cfg.ACMEHTTPListen != "" {
		if ls.ACMEHTTP, err = net.Listen("tcp", s.cfg.ACMEHTTPListen); err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen on %s for ACME HTTP-01 challenges: %w (choose another with --acme-http-listen, or --acme-http-listen '' to rely on TLS-ALPN-01 on port 443)", s.cfg.ACMEHTTPListen, err)
		}
	}
	if m := s.cfg.MetricsListen; m != "" {
		if ls.Metrics, err = net.Listen("tcp", m); err != nil {
			ln.Close()
			if ls.ACMEHTTP != nil {
				ls.ACMEHTTP.Close()
			}
			return fmt.Errorf("cannot listen on %s for metrics: %w (choose another with --metrics-listen)", m, err)
		}
	}
	return s.ServeListeners(ctx, ls)
}

// Listeners are the sockets a Server serves on; only Main is required.
type Listeners struct {
	// Main carries the WebSocket endpoints and the browser viewer (wrapped in TLS when
	// configured).
	Main net.Listener
	// ACMEHTTP answers ACME HTTP-01 challenges and redirects the rest to https.
	ACMEHTTP net.Listener
	// Metrics serves the Prometheus series at /metrics.
	Metrics net.Listener
}

// Serve serves the rendezvous on ln (wrapped in TLS when configured) and, when httpLn is not
// nil, ACME HTTP-01 challenges on httpLn, until ctx is done. It closes both listeners.
func (s *Server) Serve(ctx context.Context, ln, httpLn net.Listener) error {
	return s.ServeListeners(ctx, Listeners{Main: ln, ACMEHTTP: httpLn})
}

// ServeListeners is Serve with the metrics listener too. It closes every listener.
func (s *Server) ServeListeners(ctx context.Context, ls Listeners) error {
	ln, httpLn := ls.Main, ls.ACMEHTTP
	if ls.Metrics != nil {
		mctx, cancel := context.WithCancel(ctx)
		merr := make(chan error, 1)
		go func() { merr <- s.serveMetrics(mctx, ls.Metrics) }()
		defer func() {
			cancel()
			if err := <-merr; err != nil {
				s.log.Error("metrics", "err", err)
			}
		}()
	}
	if s.ice != nil {
		defer s.ice.Close()
	}
	scheme := "http"
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
		scheme = "https"
	}
	if len(s.names) == 0 {
		s.log.Warn("this rendezvous has no public name: it accepts a host's registration for whatever name the request carries, so a rendezvous that relays your hosts' registrations can register them here; give --public-url (or serve HTTPS with --tls-cert or --acme)")
	}
	s.log.Info("rendezvous listening", "addr", ln.Addr().String(), "scheme", scheme, "names", s.names)
	if s.Ready != nil {
		defer s.Ready(ln.Addr().String())()
	}
	if httpLn == nil {
		return s.srv.Serve(ctx, ln)
	}
	acmeHTTP := s.acme.HTTPHandler(nil)
	hs := &http.Server{
		// HTTP-01 tokens; anything else is redirected to https. autocert checks the Host
		// header against the names as it is, so a port (a CA's validation on a port other
		// than 80, as in tests) is taken off first.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				r.Host = h
			}
			acmeHTTP.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	herr := make(chan error, 1)
	go func() { herr <- hs.Serve(httpLn) }()
	s.log.Info("ACME HTTP-01 listening", "addr", httpLn.Addr().String())
	err := s.srv.Serve(ctx, ln)
	hs.Close()
	if e := <-herr; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("ACME HTTP-01 listener: %w", e)
	}
	return err
}
