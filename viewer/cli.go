package viewer

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/deskport/deskport/clipboard"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/completion"
	"github.com/deskport/deskport/internal/logflags"
	"github.com/deskport/deskport/session"
)

// NewCommand builds the `viewer` command line.
func NewCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "viewer",
		Short: "Reach a deskport host: forward ports, or join a stream to stdin/stdout",
		Long: `viewer connects to a deskport host through a rendezvous server and then talks to it peer to
peer over WebRTC. It authenticates with its own key (listed in the host's authorized_viewers)
or with a one-time code the host owner reads out.

The one-time code comes from --code, or from $DESKPORT_CODE when the flag is absent;
"--code -" asks for it on the terminal. Prefer those two: a code on the command line is
visible to other users of this machine in ps.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newIDCommand(), newForwardCommand(), newStdioCommand(),
		newScreenshotCommand(), newRecordCommand(), newOpenCommand(), newCopyCommand(), newLsCommand(), newClipboardCommand())
	completion.Add(root)
	return root
}

// common holds the flags every connecting subcommand shares.
type common struct {
	rendezvous   string
	key          string
	code         string
	knownHosts   string
	loopbackOnly bool
	relayOnly    bool
	noDirectTCP  bool
	iceServers   []string
	log          logflags.Flags
	// oneShot: the command does one thing and exits (cp, ls, clipboard, screenshot): its log
	// shows only warnings and errors unless -v.
	oneShot bool
}

func (c *common) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	c.rendezvous = logflags.Rendezvous()
	fs.Var(logflags.NewURLList(&c.rendezvous), "rendezvous", "rendezvous server URL (default $DESKPORT_RENDEZVOUS); repeat it, or separate URLs with commas, for instances of one rendezvous cluster, tried in order")
	fs.StringVar(&c.key, "key", logflags.ConfigPath("viewer.key"), "viewer key file (created if missing)")
	fs.StringVar(&c.code, "code", "", "one-time code from the host owner (instead of a trusted key); \"-\" asks for it on the terminal. Without the flag, $DESKPORT_CODE is used. A code given here is visible to other users of this machine (ps), so prefer - or $DESKPORT_CODE")
	fs.StringVar(&c.knownHosts, "known-hosts", logflags.ConfigPath("known_hosts"), "pinned host keys (trust on first use; empty: no pinning)")
	fs.BoolVar(&c.loopbackOnly, "ice-loopback-only", false, "use only loopback addresses for ICE (tests)")
	_ = fs.MarkHidden("ice-loopback-only")
	fs.StringArrayVar(&c.iceServers, "ice-server", nil, "STUN/TURN server to use besides the rendezvous's: URL, or turn URL,username,credential (repeatable)")
	fs.BoolVar(&c.relayOnly, "relay-only", false, "connect only through a TURN relay (hides this machine's addresses from the host)")
	fs.BoolVar(&c.noDirectTCP, "no-direct-tcp", false, "keep forwards and files on the WebRTC connection even when the host is directly reachable (by default they take a direct TCP connection, authenticated like the session, which is several times faster on a LAN)")
	c.log.Register(fs)
}

func (c *common) config(cmd *cobra.Command, hostID string) (Config, error) {
	if c.oneShot && c.log.Format == "text" && !c.log.Verbose {
		// A command that does one thing and exits says what it did on its own; the log's
		// INFO lines (which lane files take, ...) are detail for -v.
		c.log.Quiet = true
	}
	logger, err := c.log.Logger(cmd.ErrOrStderr())
	if err != nil {
		return Config{}, err
	}
	code, err := oneTimeCode(cmd.Flags().Changed("code"), c.code, os.Getenv, openTTY)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Rendezvous:     c.rendezvous,
		KeyPath:        c.key,
		HostID:         hostID,
		Code:           code,
		KnownHostsPath: c.knownHosts,
		Logger:         logger,
		Out:            cmd.ErrOrStderr(),
	}
	cfg.Session.LoopbackOnly = c.loopbackOnly
	cfg.Session.RelayOnly = c.relayOnly
	cfg.Session.NoDirectTCP = c.noDirectTCP
	for _, v := range c.iceServers {
		s, err := session.ParseICEServer(v)
		if err != nil {
			return Config{}, fmt.Errorf("--ice-server: %w", err)
		}
		cfg.Session.ICEServers = append(cfg.Session.ICEServers, s)
	}
	return cfg, nil
}

// withHost completes a subcommand whose first argument is a host ID: it registers the shared
// connection flags and hands run a Config built from them.
func withHost(cmd *cobra.Command, run func(cmd *cobra.Command, cfg Config, args []string) error) *cobra.Command {
	return withHostCommon(cmd, &common{}, run)
}

// oneShotWithHost is withHost for a command that does one thing and exits (common.oneShot).
func oneShotWithHost(cmd *cobra.Command, run func(cmd *cobra.Command, cfg Config, args []string) error) *cobra.Command {
	return withHostCommon(cmd, &common{oneShot: true}, run)
}

func withHostCommon(cmd *cobra.Command, c *common, run func(cmd *cobra.Command, cfg Config, args []string) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := c.config(cmd, args[0])
		if err != nil {
			return err
		}
		return run(cmd, cfg, args)
	}
	c.register(cmd)
	return cmd
}

func newIDCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print this viewer's authorized_viewers line (creating its key if missing)",
		Example: `  viewer id --key viewer.key >> /tmp/line   # then, on the host:
  cat /tmp/line >> ~/.config/deskport/authorized_viewers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, _, err := identity.LoadOrCreateKey(key, "deskport viewer")
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			fmt.Fprintln(cmd.OutOrStdout(), identity.AuthorizedLine(k.Public().(ed25519.PublicKey), "viewer@"+host))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", logflags.ConfigPath("viewer.key"), "viewer key file (created if missing)")
	return cmd
}

func newForwardCommand() *cobra.Command {
	var fw Forwards
	cmd := withHost(&cobra.Command{
		Use:   "forward HOSTID [-L spec]... [-R spec]... [-D spec]...",
		Short: "Forward ports to and from a host, like ssh -L, -R and -D",
		Example: `  # reach the host's PostgreSQL on local port 8080
  viewer forward abcdefghijklmnopqrstuvwx -L 8080:127.0.0.1:5432

  # let the host reach this machine's web server on its port 9000 (host needs --allow-listen 9000)
  viewer forward abcdefghijklmnopqrstuvwx -R 9000:127.0.0.1:80

  # a SOCKS5 proxy on port 1080 whose connections leave from the host
  viewer forward abcdefghijklmnopqrstuvwx -D 1080
  curl --socks5-hostname 127.0.0.1:1080 http://127.0.0.1:5000/

  # with a one-time code instead of a trusted key
  viewer forward abcdefghijklmnopqrstuvwx --code ABCD-EFGH -L 2222:127.0.0.1:22`,
		Args: cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, cfg Config, args []string) error {
		return Forward(cmd.Context(), cfg, fw)
	})
	fs := cmd.Flags()
	fs.StringArrayVarP(&fw.Local, "local", "L", nil, "[bind:]port:host:hostport — listen here, the host dials host:hostport")
	fs.StringArrayVarP(&fw.Remote, "remote", "R", nil, "[bind:]port:host:hostport — the host listens, this side dials host:hostport")
	fs.StringArrayVarP(&fw.Dynamic, "dynamic", "D", nil, "[bind:]port — SOCKS5 proxy here, connections leave from the host")
	return cmd
}

func newStdioCommand() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "stdio HOSTID TARGET",
		Short: "Join stdin/stdout to one connection from the host to TARGET (for ssh ProxyCommand)",
		Example: `  ssh -o ProxyCommand='viewer stdio abcdefghijklmnopqrstuvwx 127.0.0.1:22' user@my-server

  # or in ~/.ssh/config:
  Host my-server
      ProxyCommand viewer stdio abcdefghijklmnopqrstuvwx 127.0.0.1:22`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.log.Format == "text" && !c.log.Verbose {
				// ssh shows the proxy's stderr in the user's terminal: keep it to warnings.
				c.log.Quiet = true
			}
			cfg, err := c.config(cmd, args[0])
			if err != nil {
				return err
			}
			return Stdio(cmd.Context(), cfg, strings.TrimSpace(args[1]), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	c.register(cmd)
	return cmd
}

func newScreenshotCommand() *cobra.Command {
	return oneShotWithHost(&cobra.Command{
		Use:     "screenshot HOSTID OUT.png",
		Short:   "Save one frame of the host's screen as PNG",
		Example: "  viewer screenshot abcdefghijklmnopqrstuvwx screen.png --code ABCD-EFGH",
		Args:    cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, cfg Config, args []string) error {
		return Screenshot(cmd.Context(), cfg, args[1])
	})
}

func newRecordCommand() *cobra.Command {
	return withHost(&cobra.Command{
		Use:   "record HOSTID OUT.ivf",
		Short: "Record the host's screen to a file until interrupted (IVF for VP8, .h264 for H.264)",
		Example: `  viewer record abcdefghijklmnopqrstuvwx session.ivf
  ffplay session.ivf`,
		Args: cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, cfg Config, args []string) error {
		return Record(cmd.Context(), cfg, args[1])
	})
}

func newOpenCommand() *cobra.Command {
	return withHost(&cobra.Command{
		Use:     "open HOSTID",
		Short:   "Open the host's desktop in the browser viewer",
		Example: "  viewer open abcdefghijklmnopqrstuvwx --rendezvous http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, cfg Config, args []string) error {
		return Open(cfg)
	})
}

func newCopyCommand() *cobra.Command {
	c := common{oneShot: true}
	var quiet bool
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file to or from the host's file root (one side is HOSTID:path)",
		Long: `cp copies one file between this machine and the host's file root (host --files-root,
~/deskport-files by default). Paths on the host are relative to that root and cannot leave it.
A transfer is written to a temporary file and renamed only when every byte arrived and its
SHA-256 matches, so a broken transfer never leaves a half file under the final name.`,
		Example: `  viewer cp report.pdf abcdefghijklmnopqrstuvwx:inbox/report.pdf
  viewer cp abcdefghijklmnopqrstuvwx:logs/app.log ./app.log`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			hostID := args[0]
			if id, _, ok := splitRemote(args[1]); ok {
				hostID = id
			} else if id, _, ok := splitRemote(args[0]); ok {
				hostID = id
			}
			cfg, err := c.config(cmd, hostID)
			if err != nil {
				return err
			}
			var progress io.Writer = cmd.ErrOrStderr()
			if quiet || !isTerminal(progress) {
				// As scp: a bar redrawn with carriage returns is for a person at a terminal,
				// not for a log or a pipe.
				progress = nil
			}
			return Copy(cmd.Context(), cfg, args[0], args[1], progress)
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&quiet, "no-progress", false, "no progress bar")
	return cmd
}

func newLsCommand() *cobra.Command {
	c := common{oneShot: true}
	cmd := &cobra.Command{
		Use:     "ls HOSTID[:dir]",
		Short:   "List a directory of the host's file root",
		Example: "  viewer ls abcdefghijklmnopqrstuvwx:inbox",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, dir, _ := strings.Cut(args[0], ":")
			cfg, err := c.config(cmd, id)
			if err != nil {
				return err
			}
			return ListFiles(cmd.Context(), cfg, dir, cmd.OutOrStdout())
		},
	}
	c.register(cmd)
	return cmd
}

func newClipboardCommand() *cobra.Command {
	var set string
	var fromStdin, watch bool
	cmd := oneShotWithHost(&cobra.Command{
		Use:   "clipboard HOSTID",
		Short: "Set the host's clipboard, or print it whenever it changes",
		Example: `  viewer clipboard abcdefghijklmnopqrstuvwx --set 'hello'
  echo hello | viewer clipboard abcdefghijklmnopqrstuvwx --stdin
  viewer clipboard abcdefghijklmnopqrstuvwx --watch`,
		Args: cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, cfg Config, args []string) error {
		text, doSet := set, cmd.Flags().Changed("set")
		if fromStdin {
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), clipboard.DefaultMaxBytes+1))
			if err != nil {
				return err
			}
			text, doSet = string(b), true
		}
		// Said here, before connecting: standard input is read only up to one byte past the
		// limit, so the host's refusal named that size ("1048577 bytes"), not the text's.
		if doSet && len(text) > clipboard.DefaultMaxBytes {
			from := "--set"
			if fromStdin {
				from = "standard input"
			}
			return fmt.Errorf("the text from %s is more than %d bytes, the most a host's clipboard takes; nothing was set", from, clipboard.DefaultMaxBytes)
		}
		if !doSet && !watch {
			return fmt.Errorf("give --set TEXT, --stdin or --watch")
		}
		return Clipboard(cmd.Context(), cfg, text, doSet, watch, cmd.OutOrStdout())
	})
	cmd.Flags().StringVar(&set, "set", "", "text to put on the host's clipboard")
	cmd.Flags().BoolVar(&fromStdin, "stdin", false, "read the text to set from standard input")
	cmd.Flags().BoolVar(&watch, "watch", false, "print the host's clipboard whenever it changes")
	return cmd
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
