package loadgen

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// NewCommand builds the deskport-load command.
func NewCommand() *cobra.Command {
	var (
		p      Plan
		spread string
	)
	cmd := &cobra.Command{
		Use:   "deskport-load",
		Short: "Load a deskport rendezvous with simulated hosts and viewer sessions",
		Long: `deskport-load registers --hosts simulated hosts (real WebSockets, real ed25519 proofs) with
the rendezvous URLs given, round robin, then opens --rate viewer sessions a second for --duration,
each exchanging an offer, an answer and candidates (fake SDP: no ICE) with a host through the next
URL in the list (so with two or more URLs every session crosses instances), and prints the
offer → answer latency. With --duration 0 the hosts stay registered until interrupted.

A rendezvous allows 32 WebSockets per client address by default. Against a rendezvous on this
machine, --spread-loopback (the default for 127.x URLs) connects from addresses spread over
127.0.0.0/8; against a remote one, run the generator from several machines or use a test
instance with a higher --max-conns-per-ip.`,
		Example: `  deskport-load --rendezvous http://127.0.0.1:8080 --hosts 10000 --rate 100 --duration 30s
  deskport-load --rendezvous http://127.0.0.1:8080 --rendezvous http://127.0.0.1:8081 --hosts 1000`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Out = cmd.OutOrStdout()
			// --rendezvous a,b is --rendezvous a --rendezvous b, as for the host and the viewer.
			var urls []string
			for _, u := range p.URLs {
				for _, one := range strings.Split(u, ",") {
					if one = strings.TrimSpace(one); one != "" {
						urls = append(urls, one)
					}
				}
			}
			p.URLs = urls
			switch spread {
			case "auto":
				p.Loopback = len(p.URLs) > 0
				for _, u := range p.URLs {
					p.Loopback = p.Loopback && IsLoopbackURL(u)
				}
			case "on":
				p.Loopback = true
			case "off":
			default:
				return errBadSpread
			}
			return p.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&p.URLs, "rendezvous", nil, "rendezvous URL, http(s)://host:port (repeatable, or comma-separated: hosts and sessions spread over them)")
	fs.IntVar(&p.Hosts, "hosts", 1000, "simulated hosts")
	fs.Float64Var(&p.Rate, "rate", 100, "new viewer sessions a second")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "how long to open sessions (0: only hold the hosts until interrupted)")
	fs.StringVar(&spread, "spread-loopback", "auto", "connect from source addresses spread over 127.0.0.0/8: on, off, or auto (on for 127.x URLs)")
	fs.Uint64Var(&p.Seed, "seed", 1, "seed of the host keys (the same seed gives the same host IDs)")
	return cmd
}
