// Package rendezvouscmd is the `rendezvous` command line: flags into a rendezvous.Config, then
// the server on a listener.
package rendezvouscmd

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/deskport/deskport/internal/logflags"
	"github.com/deskport/deskport/rendezvous"
)

// NewCommand builds the `rendezvous` command.
func NewCommand() *cobra.Command {
	var (
		listen string
		stun   []string
		cfg    rendezvous.Config
		lf     logflags.Flags
	)
	cmd := &cobra.Command{
		Use:   "rendezvous",
		Short: "Run a deskport rendezvous (signaling) server",
		Long: `rendezvous is where hosts wait and viewers find them. It relays the WebRTC offer, answer
and ICE candidates between the two and hands out STUN/TURN servers; it never carries a session's
data and cannot authenticate as either end (the peers authenticate each other end to end).`,
		Example: `  rendezvous --listen 127.0.0.1:8080
  rendezvous --listen :8080 --stun stun:stun.example.com:3478 --log-format json`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.Logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = logger
			for _, u := range stun {
				cfg.ICEServers = append(cfg.ICEServers, rendezvous.ICEServer{URLs: []string{u}})
			}
			srv, err := rendezvous.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w (is the port in use? choose another with --listen)", listen, err)
			}
			logger.Info("rendezvous listening", "addr", ln.Addr().String())
			defer notifyReady(cmd.Context(), logger, ln.Addr().String())()
			return srv.Serve(cmd.Context(), ln)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (host:port; :0 picks a free port)")
	fs.StringArrayVar(&stun, "stun", nil, "STUN server URL handed to hosts and viewers (repeatable)")
	fs.StringArrayVar(&cfg.AllowedOrigins, "allow-origin", nil, "browser Origin allowed to open WebSockets (exact; repeatable)")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", 0, "WebSocket connections per client IP (default 32)")
	fs.IntVar(&cfg.MaxPendingPerHost, "max-pending-per-host", 0, "sessions awaiting a host's answer (default 8)")
	fs.BoolVar(&cfg.TrustProxyHeaders, "trust-proxy-headers", false, "take the client address from X-Forwarded-For (only behind a proxy you run)")
	lf.Register(fs)
	addServiceFlags(cmd) // service.go
	return cmd
}
