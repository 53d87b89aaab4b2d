package host

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/completion"
	"github.com/deskport/deskport/internal/logflags"
	"github.com/deskport/deskport/session"
)

// NewCommand builds the `host` command line.
func NewCommand() *cobra.Command {
	var cfg Config
	var lf logflags.Flags
	var loopbackOnly, noDesktop, relayOnly, noDirectTCP bool
	var iceServers []string
	var maxBitrate, grant, accept string
	var checkConfig bool
	var consentTimeout time.Duration
	var sf *serviceFlags // the config file, the drain and `service`: servicecli.go
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Run the deskport host agent: make this machine reachable through a rendezvous",
		Long: `host registers this machine with a rendezvous server under its key and waits for viewers.
Viewers get in with a key listed in the authorized_viewers file, or with a one-time code
(--code) that you read out to them. Nothing is forwarded unless --allow lists it.

` + platformNote,
		Example: `  # let trusted viewers reach the local PostgreSQL
  host --rendezvous https://rv.example.com --allow 127.0.0.1:5432

  # a support session: print a one-time code, allow ssh
  host --rendezvous https://rv.example.com --code --allow 127.0.0.1:22

  # on this machine only: an embedded rendezvous, a browser link and a one-time code
  host

  # the same for browsers on the LAN, which need HTTPS
  host --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem

  # a headless server: its own virtual display with a terminal in it
  host --virtual-display 1280x720 --run xterm

  # print this host's ID
  host id`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.Logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = logger
			cfg.Out = cmd.OutOrStdout()
			cfg.Session.LoopbackOnly = loopbackOnly
			cfg.Session.RelayOnly = relayOnly
			cfg.Session.NoDirectTCP = noDirectTCP
			for _, v := range iceServers {
				s, err := session.ParseICEServer(v)
				if err != nil {
					return fmt.Errorf("--ice-server: %w", err)
				}
				cfg.Session.ICEServers = append(cfg.Session.ICEServers, s)
			}
			given := func(name string) bool {
				_, inFile := sf.bind.File().Lookup(name)
				return inFile || cmd.Flags().Changed(name)
			}
			if err := refuseDesktopFlags(hostOS, given); err != nil {
				return err
			}
			// Where the host cannot share a screen it serves forwards only, without a warning.
			cfg.Desktop.Disabled = noDesktop || !DesktopSupported(hostOS)
			if maxBitrate != "" {
				if cfg.Desktop.MaxBitrate, err = parseBitrate(maxBitrate); err != nil {
					return err
				}
			}
			if cfg.CodeGrants, err = ParseCaps(grant); err != nil {
				return fmt.Errorf("--grant: %w", err)
			}
			cfg.Interactive = isTerminal(os.Stdin)
			var term *terminal
			if cfg.Interactive {
				term = newTerminal(os.Stdin, cmd.OutOrStdout(), consentTimeout)
			}
			if cfg.Consent, err = consentPolicy(accept, term); err != nil {
				return err
			}
			a, err := New(cfg)
			if err != nil {
				return err
			}
			if checkConfig {
				return a.CheckConfig(cmd.OutOrStdout())
			}
			if term != nil {
				// The owner presses Enter for a fresh code, and answers consent prompts. The
				// reader blocks on the terminal for the life of the process, which ends with Run.
				term.idle = a.NewCode
				go term.run()
			}
			return sf.run(cmd, a, &cfg)
		},
	}
	fs := cmd.Flags()
	cfg.Rendezvous = logflags.Rendezvous()
	fs.Var(&urlList{p: &cfg.Rendezvous}, "rendezvous", "rendezvous server URL (default $DESKPORT_RENDEZVOUS); repeat it, or separate URLs with commas, for instances of one rendezvous cluster: the agent fails over between them")
	fs.StringVar(&cfg.KeyPath, "key", logflags.ConfigPath("host.key"), "host key file (created if missing)")
	fs.StringVar(&cfg.AuthorizedViewersPath, "authorized-viewers", logflags.ConfigPath("authorized_viewers"), "viewer keys allowed in (authorized_keys syntax)")
	fs.StringArrayVar(&cfg.Allow, "allow", nil, "forward target viewers may reach: host:port, host:lo-hi or cidr:port (repeatable)")
	fs.StringArrayVar(&cfg.AllowListen, "allow-listen", nil, "where reverse forwards (-R) may listen: [bind:]port[-port] (repeatable)")
	fs.BoolVar(&cfg.Code, "code", false, "accept a one-time code (printed here; one attempt each)")
	fs.BoolVar(&checkConfig, "check-config", false, "print the effective policy (who may connect, with what) and exit; non-zero if anything cannot be enforced")
	fs.StringVar(&grant, "grant", "view", "what a one-time-code viewer may do: view,control,clipboard,files,forward,listen or all")
	fs.StringVar(&accept, "accept", "", "code viewers: ask (prompt here; the default at a terminal), grant (accept with --grant, the default otherwise), view (accept view-only) or deny")
	fs.DurationVar(&consentTimeout, "consent-timeout", DefaultConsentTimeout, "--accept ask: refuse a code viewer when the prompt gets no answer in this time (input to every session is paused while it is open)")
	fs.DurationVar(&cfg.CodeTTL, "code-ttl", 0, "how long a one-time code stays valid (default 10m)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", 0, "concurrent forwarded connections per viewer (default 128)")
	fs.BoolVar(&noDesktop, "no-desktop", false, "do not offer the screen (port forwarding only; always so on Windows and macOS)")
	fs.StringVar(&cfg.AuditLogPath, "audit-log", logflags.ConfigPath("audit.log"), "JSON-lines audit log of sessions, grants, forwards, files and refusals (empty: none)")
	fs.StringVar(&cfg.FilesRoot, "files-root", defaultFilesRoot(), "directory viewers with the files capability may put and get files in (paths cannot leave it); empty turns file transfer off")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address, e.g. 127.0.0.1:9091 (default: none)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "where the embedded rendezvous listens when no --rendezvous is given")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve the embedded rendezvous over HTTPS with this certificate (PEM); browsers on other machines need it")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	fs.StringVar(&cfg.Desktop.Backend, "backend", BackendAuto, "what to share: x11 (an X display), mutter (GNOME on Wayland), portal (the desktop portal: KDE, wlroots; asks once) or auto (mutter in a GNOME Wayland session, else the portal on Wayland, else x11) (Linux only)")
	fs.StringVar(&cfg.Desktop.Display, "display", "", "X display to share (default $DISPLAY) (Linux only)")
	fs.IntVar(&cfg.Desktop.Monitor, "monitor", -1, "monitor to share, 0-based (default: the whole display) (Linux only)")
	fs.StringVar(&cfg.Desktop.Codec, "codec", "vp8", "video codec: vp8 or h264 (Linux only)")
	fs.IntVar(&cfg.Desktop.FPS, "fps", 30, "frames per second (Linux only)")
	fs.StringVar(&maxBitrate, "max-bitrate", "", "video bitrate cap, e.g. 4M or 800k (default 6M; congestion control goes lower) (Linux only)")
	fs.StringVar(&cfg.Desktop.VirtualDisplay, "virtual-display", "", "start and own a virtual display of this size (e.g. 1280x720), for hosts without a monitor: Xvfb, or with --backend mutter a headless GNOME (Linux only; several comma-separated sizes make several monitors)")
	fs.StringVar(&cfg.Desktop.Run, "run", "", "command to start inside the display (e.g. xterm); stopped when the host exits (Linux only)")
	fs.BoolVar(&loopbackOnly, "ice-loopback-only", false, "use only loopback addresses for ICE (tests)")
	fs.StringArrayVar(&iceServers, "ice-server", nil, "STUN/TURN server to use besides the rendezvous's: URL, or turn URL,username,credential (repeatable)")
	fs.BoolVar(&relayOnly, "relay-only", false, "connect only through a TURN relay (hides this machine's addresses from viewers)")
	fs.BoolVar(&noDirectTCP, "no-direct-tcp", false, "refuse viewers' direct TCP lane: forwards and files stay on the WebRTC connection even on a direct path (the host would dial the viewer's address)")
	_ = fs.MarkHidden("ice-loopback-only")
	lf.Register(fs)
	sf = addServiceFlags(cmd)
	cmd.AddCommand(newIDCommand(), newSessionsCommand(), newKickCommand())
	completion.Add(cmd)
	return cmd
}

func newIDCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:     "id",
		Short:   "Print this host's ID (creating its key if missing)",
		Example: "  host id --key host.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, _, err := identity.LoadOrCreateKey(key, "deskport host")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), identity.HostID(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", logflags.ConfigPath("host.key"), "host key file (created if missing)")
	return cmd
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// parseBitrate reads "4M", "800k" or a plain number of bits per second.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	t := strings.TrimSpace(strings.ToLower(s))
	switch {
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, strings.TrimSuffix(t, "k")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v*mult < 100e3 || v*mult > 100e6 {
		return 0, fmt.Errorf("--max-bitrate %q: give a rate between 100k and 100M, e.g. 4M", s)
	}
	return int(v * mult), nil
}

func newSessionsCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:     "sessions",
		Short:   "List the viewers connected to the running host agent",
		Example: "  host sessions --key host.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := Admin(key, "sessions", "")
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(rep.Sessions) == 0 {
				fmt.Fprintln(w, "no viewers connected")
			}
			for _, s := range rep.Sessions {
				fmt.Fprint(w, sessionLine(s, time.Now()))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", logflags.ConfigPath("host.key"), "the running agent's key file")
	return cmd
}

func newKickCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:     "kick SESSION|all",
		Short:   "End a viewer's session on the running host agent at once",
		Example: "  host kick 3f9a   # a prefix of the ID from `host sessions`\n  host kick all",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := Admin(key, "kick", args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ended %d session(s)\n", rep.Kicked)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", logflags.ConfigPath("host.key"), "the running agent's key file")
	return cmd
}

func defaultFilesRoot() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, "deskport-files")
}

// urlList is the --rendezvous flag: a comma-separated list of URLs, extended by each repetition
// of the flag. It is a string to the config file (rendezvous = "https://a,https://b"), so that a
// file written for one URL keeps working.
type urlList struct {
	p   *string
	set bool // the default ($DESKPORT_RENDEZVOUS) is replaced by the first --rendezvous
}

func (u *urlList) String() string {
	if u.p == nil {
		return ""
	}
	return *u.p
}

func (u *urlList) Set(v string) error {
	if !u.set || *u.p == "" {
		*u.p, u.set = v, true
		return nil
	}
	*u.p += "," + v
	return nil
}

func (u *urlList) Type() string { return "string" }
