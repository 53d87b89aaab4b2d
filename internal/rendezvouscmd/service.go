package rendezvouscmd

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/svcinstall"
	"github.com/deskport/deskport/internal/version"
)

// addServiceFlags gives the command its config file (every long flag a key), --version and the
// `service` subcommand. It is called after the command's own flags are defined.
func addServiceFlags(cmd *cobra.Command) {
	configfile.Bind(cmd, "rendezvous")
	version.AddFlag(cmd)
	cmd.AddCommand(svcinstall.NewCommand(serviceSpec()))
}

// serviceSpec is what `rendezvous service install` writes a unit from.
func serviceSpec() svcinstall.Spec {
	return svcinstall.Spec{
		Name:        "rendezvous",
		Description: "deskport rendezvous (signaling) server",
		DynamicUser: true,
		ListenKeys:  []string{"listen", "acme-http-listen", "stun-listen", "turn-listen", "turn-tls-listen", "metrics-listen"},
		// With a certificate and no listen key the rendezvous listens on :443; with --acme its
		// HTTP-01 listener defaults to :80.
		PrivilegedDefault: func(f *configfile.File) bool {
			_, listen := f.Lookup("listen")
			_, acme := f.Lookup("acme")
			_, cert := f.Lookup("tls-cert")
			_, httpListen := f.Lookup("acme-http-listen")
			return (!listen && (acme || cert)) || (acme && !httpListen)
		},
		Flags: NewCommand,
	}
}

// notifyReady tells systemd (Type=notify) the server listens, and pings its watchdog until ctx
// is done; the returned func waits for that to stop. Outside systemd both are no-ops.
func notifyReady(ctx context.Context, log *slog.Logger, addr string) func() {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=listening on "+addr); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}
	var wg sync.WaitGroup
	every, err := daemon.SdWatchdogEnabled(false)
	if err == nil && every > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every / 2)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
					return
				case <-t.C:
					_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
				}
			}
		}()
	}
	return wg.Wait
}
