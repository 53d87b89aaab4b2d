// Package rendezvouscmd is the `rendezvous` command line: flags into a Config, then the
// signaling server, the browser viewer and its certificates (files or ACME) on a listener.
package rendezvouscmd

import (
	"crypto/tls"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/deskport/deskport/internal/completion"
	"github.com/deskport/deskport/internal/logflags"
	"github.com/deskport/deskport/rendezvous"
)

// NewCommand builds the `rendezvous` command.
func NewCommand() *cobra.Command {
	var (
		stun []string
		cfg  Config
		lf   logflags.Flags
		ice  iceFlags
	)
	cmd := &cobra.Command{
		Use:   "rendezvous",
		Short: "Run a deskport rendezvous (signaling) server",
		Long: `rendezvous is where hosts wait and viewers find them. It relays the WebRTC offer, answer
and ICE candidates between the two and hands out STUN/TURN servers; it never carries a session's
data and cannot authenticate as either end (the peers authenticate each other end to end).

It also serves the browser viewer at /. Browsers give the page the cryptography it needs only
over HTTPS (or on localhost), so a rendezvous that browsers on other machines use needs a
certificate: --acme NAME gets one from Let's Encrypt by itself (NAME must resolve to this
machine, and ports 443 and 80 must reach it), or give --tls-cert and --tls-key.`,
		Example: `  rendezvous --listen 127.0.0.1:8080
  rendezvous --acme rv.example.com --acme-email ops@example.com
  rendezvous --listen :8443 --tls-cert /etc/deskport/cert.pem --tls-key /etc/deskport/key.pem
  rendezvous --listen :8080 --public-url http://203.0.113.5:8080 --stun stun:stun.example.com:3478
  rendezvous --acme rv.example.com --turn --turn-tls-listen turn.example.com:443 --turn-relay-ports 49152-49999
  rendezvous --listen :8080 --metrics-listen 127.0.0.1:9090
  rendezvous --listen :8080 --public-url https://rv.example.com --redis redis://10.0.0.9:6379/0
  rendezvous --listen :8080 --turn-secret-file /etc/deskport/turn-secret --ice-server turns:turn.example.com:443?transport=tcp`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.Logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Rendezvous.Logger = logger
			if cfg.Rendezvous.Redis == "" {
				// Not in the help's default: the URL may carry a password.
				cfg.Rendezvous.Redis = os.Getenv("DESKPORT_REDIS")
			}
			for _, u := range stun {
				cfg.Rendezvous.ICEServers = append(cfg.Rendezvous.ICEServers, rendezvous.ICEServer{URLs: []string{u}})
			}
			if len(cfg.ACME) > 0 && !cmd.Flags().Changed("acme-http-listen") {
				cfg.ACMEHTTPListen = ":80"
			}
			if len(cfg.ACME) > 0 && ice.turn {
				// TURN over TLS on a name of its own serves the ACME certificates too, so
				// they must cover that name.
				cfg.ACMETURNName = ice.turnTLSName()
			}
			stunExplicit := cmd.Flags().Changed("stun-listen")
			cfg.StartICE = func(tc *tls.Config) (*rendezvous.ICEConfig, io.Closer, error) {
				return ice.start(logger, tc, stunExplicit)
			}
			s, err := New(cfg)
			if err != nil {
				return err
			}
			s.Ready = func(addr string) func() { return notifyReady(cmd.Context(), logger, addr) }
			return s.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Listen, "listen", "", "address to listen on, host:port (default 127.0.0.1:8080, or :443 with --tls-cert or --acme)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM, the server's certificate then its intermediates; reloaded when it changes)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	fs.StringArrayVar(&cfg.ACME, "acme", nil, "serve HTTPS with a certificate for this DNS name from an ACME CA (Let's Encrypt), renewed by itself (repeatable)")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "contact address given to the ACME CA for expiry notices")
	fs.StringVar(&cfg.ACMECache, "acme-cache", "", "directory for the ACME account key and certificates (default $STATE_DIRECTORY/acme under systemd, else ~/.cache/deskport/acme)")
	fs.StringVar(&cfg.ACMEDirectory, "acme-directory", "", "ACME directory URL of another CA (default Let's Encrypt)")
	fs.StringVar(&cfg.ACMEHTTPListen, "acme-http-listen", "", "with --acme: listener for HTTP-01 challenges and redirects to https (default :80; '' for none)")
	fs.StringArrayVar(&cfg.PublicURLs, "public-url", nil, "URL that hosts and viewers use to reach this server, e.g. https://rv.example.com (repeatable; implied by --acme and the certificate's names); hosts must register under one of these names")
	fs.StringArrayVar(&stun, "stun", nil, "STUN server URL handed to hosts and viewers (repeatable)")
	fs.StringArrayVar(&cfg.Rendezvous.AllowedOrigins, "allow-origin", nil, "browser Origin allowed to open WebSockets (exact; repeatable)")
	fs.IntVar(&cfg.Rendezvous.MaxConnsPerIP, "max-conns-per-ip", 0, "WebSocket connections per client IP (default 32)")
	fs.IntVar(&cfg.Rendezvous.MaxPendingPerHost, "max-pending-per-host", 0, "sessions awaiting a host's answer (default 8)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address, e.g. 127.0.0.1:9090 (default: none; never the --listen address)")
	fs.StringVar(&cfg.Rendezvous.Redis, "redis", "", "share hosts with the other rendezvous instances that use this Redis, redis://[:password@]host:port[/db] (rediss:// for TLS), so that any of them reaches any host (default $DESKPORT_REDIS); a URL with a password belongs in $DESKPORT_REDIS or a config file only you can read, not on the command line")
	fs.BoolVar(&cfg.Rendezvous.TrustProxyHeaders, "trust-proxy-headers", false, "take the client address from X-Forwarded-For (only behind a proxy you run)")
	ice.register(fs)
	lf.Register(fs)
	addServiceFlags(cmd) // service.go
	completion.Add(cmd)
	return cmd
}
