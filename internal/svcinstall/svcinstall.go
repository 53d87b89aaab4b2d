// Package svcinstall is the `service install|uninstall|status|start|stop` subcommand that the
// host and the rendezvous share. On Linux it writes hardened systemd units itself (so that what
// is written can be staged under --root, checked by systemd-analyze verify, and shipped in the
// packages byte for byte); on macOS and Windows it hands over to kardianos/service, which
// speaks launchd and the Windows service manager.
package svcinstall

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deskport/deskport/internal/configfile"
)

// SystemUser is the dedicated account a system host runs as; its home is StateDir.
const SystemUser = "deskport"

// Spec describes one binary as a service.
type Spec struct {
	// Name is the binary's role ("host", "rendezvous"): the unit is deskport-<Name>.service and
	// the config file /etc/deskport/<Name>.toml.
	Name string
	// Description is the unit's one-line description.
	Description string
	// DynamicUser runs the system service under a transient user (the rendezvous keeps no
	// secrets but its TLS cache in its state directory); otherwise it runs as SystemUser.
	DynamicUser bool
	// Display says the service may show the desktop: the user unit is tied to the graphical
	// session so that $DISPLAY is reachable.
	Display bool
	// ListenKeys are the config keys that name an address the service listens on; a port
	// below 1024 in any of them grants CAP_NET_BIND_SERVICE, and only then.
	ListenKeys []string
	// PrivilegedDefault, when set, reports whether the file's settings make the service listen
	// on a port below 1024 by default (the rendezvous with --acme or --tls-cert and no listen
	// key defaults to :443, and ACME's HTTP-01 listener to :80).
	PrivilegedDefault func(f *configfile.File) bool
	// DrainTimeout is how long the service drains on stop; the unit's stop timeout is above it.
	DrainTimeout time.Duration
	// Flags is the binary's own flag set, to check the config file against it.
	Flags func() *cobra.Command
}

// Options are the choices of one `service install`.
type Options struct {
	// System installs the system service (a dedicated user); otherwise the user's own
	// (systemd --user, launchd agent), which reaches the logged-in desktop.
	System bool
	// Root writes every file under this directory instead of / and runs no service manager:
	// for packaging and tests.
	Root string
	// Binary is the executable the unit runs; empty means this one.
	Binary string
	// Config is the config file the service reads; empty means the default for the mode.
	Config string
	// PrivilegedPort grants CAP_NET_BIND_SERVICE (computed from the config file by install).
	PrivilegedPort bool
	// AllowPrivilegedPorts grants CAP_NET_BIND_SERVICE whatever the config file says: for the
	// packages, whose unit is written before anyone edits the file (--allow-privileged-ports).
	AllowPrivilegedPorts bool
}

// UnitName is the systemd unit (and launchd/Windows service) name.
func (s Spec) UnitName() string { return "deskport-" + s.Name }

// ConfigPath is the config file of the mode: /etc/deskport/<name>.toml for the system,
// $XDG_CONFIG_HOME/deskport/<name>.toml for a user.
func (s Spec) ConfigPath(o Options) string {
	if o.Config != "" {
		return o.Config
	}
	if o.System {
		return filepath.Join("/etc/deskport", s.Name+".toml")
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "deskport", s.Name+".toml")
}

// StateDir is where a system service keeps its state (the host key, the rendezvous's TLS cache).
func (s Spec) StateDir() string {
	if s.DynamicUser {
		return "/var/lib/" + s.UnitName()
	}
	return "/var/lib/deskport"
}

func (s Spec) drain() time.Duration {
	if s.DrainTimeout > 0 {
		return s.DrainTimeout
	}
	return 10 * time.Second
}

// SystemdUnit is the unit `service install` writes.
func SystemdUnit(s Spec, o Options) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by `%s service install%s`; see docs/service.md.", s.Name, map[bool]string{true: " --system", false: " --user"}[o.System])
	w("[Unit]")
	w("Description=%s", s.Description)
	w("Documentation=https://github.com/deskport/deskport/blob/main/docs/service.md")
	if o.System {
		w("Wants=network-online.target")
		w("After=network-online.target")
	} else if s.Display {
		// The user's desktop: start with the graphical session, whose environment holds
		// DISPLAY (`systemctl --user import-environment DISPLAY XAUTHORITY`).
		w("After=graphical-session.target")
		w("PartOf=graphical-session.target")
	}
	w("")
	w("[Service]")
	w("Type=notify")
	w("NotifyAccess=main")
	exec := o.Binary
	args := " --config " + quoteArg(s.ConfigPath(o))
	if s.ConfigPath(o) == "" {
		args = ""
	}
	w("ExecStart=%s%s", quoteArg(exec), args)
	w("ExecReload=/bin/kill -HUP $MAINPID")
	w("Restart=on-failure")
	w("RestartSec=2s")
	w("WatchdogSec=30s")
	// SIGTERM starts the drain; systemd waits for it, with a margin, before SIGKILL. Only the
	// main process gets SIGTERM, so it stops its children (Xvfb, --run) itself.
	w("TimeoutStopSec=%d", int((s.drain()+10*time.Second)/time.Second))
	w("KillMode=mixed")
	if o.System {
		if s.DynamicUser {
			w("DynamicUser=yes")
			w("StateDirectory=%s", s.UnitName())
		} else {
			w("User=%s", SystemUser)
			w("Group=%s", SystemUser)
			w("StateDirectory=deskport")
			w("LogsDirectory=deskport")
			w("Environment=HOME=%s XDG_CONFIG_HOME=%s", s.StateDir(), s.StateDir())
		}
		w("ConfigurationDirectory=deskport")
		w("StateDirectoryMode=0750")
		w("UMask=0077")
		// Hardening. ProtectSystem=strict makes the file system read-only but for the
		// State/Logs/ConfigurationDirectory above (the config directory stays read-only to
		// the service: systemd only creates it).
		w("NoNewPrivileges=yes")
		w("ProtectSystem=strict")
		w("ProtectHome=yes")
		w("PrivateTmp=yes")
		w("PrivateDevices=yes")
		w("ProtectKernelTunables=yes")
		w("ProtectKernelModules=yes")
		w("ProtectKernelLogs=yes")
		w("ProtectControlGroups=yes")
		w("ProtectClock=yes")
		w("ProtectHostname=yes")
		w("ProtectProc=invisible")
		w("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")
		w("RestrictNamespaces=yes")
		w("RestrictRealtime=yes")
		w("RestrictSUIDSGID=yes")
		w("LockPersonality=yes")
		w("MemoryDenyWriteExecute=yes")
		w("RemoveIPC=yes")
		w("SystemCallArchitectures=native")
		w("SystemCallFilter=@system-service")
		w("SystemCallErrorNumber=EPERM")
		if o.PrivilegedPort {
			w("CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
			w("AmbientCapabilities=CAP_NET_BIND_SERVICE")
		} else {
			w("CapabilityBoundingSet=")
			w("AmbientCapabilities=")
		}
	} else {
		// A user manager cannot drop privileges it does not have; these hold there too.
		w("NoNewPrivileges=yes")
		w("RestrictSUIDSGID=yes")
		w("LockPersonality=yes")
		w("SystemCallArchitectures=native")
		w("UMask=0077")
	}
	w("")
	w("[Install]")
	if o.System {
		w("WantedBy=multi-user.target")
	} else if s.Display {
		w("WantedBy=graphical-session.target")
	} else {
		w("WantedBy=default.target")
	}
	return b.String()
}

// SysusersConf declares SystemUser for systemd-sysusers (the packages and `install --system`).
func SysusersConf() string {
	return fmt.Sprintf("# deskport: the account a system host agent runs as (docs/service.md).\nu %s - \"deskport host agent\" /var/lib/deskport /usr/sbin/nologin\n", SystemUser)
}

// quoteArg quotes a unit command-line word when it needs it.
func quoteArg(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'\\$%;") {
		return strconv.Quote(strings.ReplaceAll(strings.ReplaceAll(s, "%", "%%"), "$", "$$"))
	}
	return s
}

// PrivilegedPort reports whether the file makes the service listen on a port below 1024: a
// listen key naming one, or Spec.PrivilegedDefault.
func PrivilegedPort(s Spec, f *configfile.File) bool {
	if s.PrivilegedDefault != nil && s.PrivilegedDefault(f) {
		return true
	}
	for _, k := range s.ListenKeys {
		vals, _ := f.Lookup(k)
		for _, v := range vals {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				continue
			}
			if p, err := strconv.Atoi(port); err == nil && p > 0 && p < 1024 {
				return true
			}
		}
	}
	return false
}

// missingConfig is what install says when the config file the unit passes does not exist:
// the service would not start until it does. The packages install the example as
// /usr/share/doc/deskport-<name>/<name>.toml; a source tree has it in packaging/.
func missingConfig(s Spec, path string) string {
	return fmt.Sprintf("%s does not exist yet, and the service will not start without it: write it (every key is a long flag of `%s --help`; "+
		"a commented example is /usr/share/doc/deskport-%s/%s.toml from the package, or packaging/%s.toml in the source)",
		path, s.Name, s.Name, s.Name, s.Name)
}

// errNoManager is returned where this system has no service manager deskport knows.
var errNoManager = errors.New("no supported service manager (systemd, launchd or the Windows service manager) on this system")

// NewCommand builds `<name> service` with its subcommands.
func NewCommand(s Spec) *cobra.Command {
	var o Options
	var user bool
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove, start, stop or show " + s.Name + " as a system or user service",
		Long: fmt.Sprintf(`service manages %[1]s as a service: a systemd unit on Linux, a launchd job on macOS,
a Windows service. --system (the default as root) runs it as a dedicated account from
/etc/deskport/%[1]s.toml; --user runs it in your own session from
$XDG_CONFIG_HOME/deskport/%[1]s.toml, where your desktop's display is reachable.`, s.Name),
		Example: fmt.Sprintf(`  sudo %[1]s service install --system && sudo systemctl enable --now %[2]s
  %[1]s service install --user
  %[1]s service status`, s.Name, s.UnitName()),
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&o.System, "system", false, "the system service, as a dedicated account (the default as root)")
	pf.BoolVar(&user, "user", false, "your own user service, which reaches your desktop (the default otherwise)")
	pf.StringVar(&o.Root, "root", "", "write the files under this directory and run no service manager (packaging, tests)")
	pf.StringVar(&o.Binary, "binary", "", "executable the service runs (default: this one)")
	pf.BoolVar(&o.AllowPrivilegedPorts, "allow-privileged-ports", false, "let the system service listen on ports below 1024 (CAP_NET_BIND_SERVICE, its only capability) whatever the config file says now; without it, only a config file that names such a port gets it (the packages set it: their unit is written before the file is edited)")
	pf.StringVar(&o.Config, "service-config", "", "config file the service reads (default /etc/deskport/"+s.Name+".toml or $XDG_CONFIG_HOME/deskport/"+s.Name+".toml)")
	resolve := func() error {
		if o.System && user {
			return errors.New("choose one of --system and --user")
		}
		if !o.System && !user {
			o.System = os.Geteuid() == 0
		}
		if o.Binary == "" {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("cannot find this executable (%v); give --binary", err)
			}
			o.Binary = exe
		}
		return nil
	}
	sub := func(use, short string, run func(cmd *cobra.Command) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, SilenceUsage: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := resolve(); err != nil {
					return err
				}
				return run(cmd)
			}}
	}
	cmd.AddCommand(
		sub("install", "Write and enable the service (it is not started)", func(cmd *cobra.Command) error {
			return install(cmd, s, o)
		}),
		sub("uninstall", "Stop, disable and remove the service (the config and state stay)", func(cmd *cobra.Command) error {
			return control(cmd, s, o, "uninstall")
		}),
		sub("start", "Start the service", func(cmd *cobra.Command) error { return control(cmd, s, o, "start") }),
		sub("stop", "Stop the service (it drains its sessions first)", func(cmd *cobra.Command) error { return control(cmd, s, o, "stop") }),
		sub("status", "Show whether the service is installed and running", func(cmd *cobra.Command) error { return control(cmd, s, o, "status") }),
	)
	return cmd
}

// install checks the config file the service will read (when it exists), then writes the
// service definition.
func install(cmd *cobra.Command, s Spec, o Options) error {
	cfgPath := s.ConfigPath(o)
	staged := filepath.Join(o.Root, cfgPath)
	if cfgPath != "" {
		if _, err := os.Stat(staged); err == nil && s.Flags != nil {
			f, err := configfile.Read(staged, s.Flags().Flags())
			if err != nil {
				return fmt.Errorf("the service would not start: %w", err)
			}
			o.PrivilegedPort = PrivilegedPort(s, f)
		}
	}
	if o.AllowPrivilegedPorts {
		o.PrivilegedPort = true
	}
	return installNative(cmd, s, o)
}
