//go:build linux

package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/deskport/deskport/internal/procgroup"
)

// HeadlessConfig sizes a headless wlroots desktop with its portal.
type HeadlessConfig struct {
	// Width and Height are the output's size; zero means 1280x720.
	Width, Height int
	// Chooser is the command xdg-desktop-portal-wlr runs to ask which output to share (its
	// chooser_type simple): it prints the output's name (HEADLESS-1) to share it, or nothing
	// to decline. Empty shares HEADLESS-1 without asking (chooser_type none).
	Chooser string
	// Timeout bounds the start; zero means 30 s.
	Timeout time.Duration
	// Logger receives the programs' messages at Debug; nil discards them.
	Logger *slog.Logger
}

// ErrNotInstalled means a program of the headless wlroots desktop is missing.
var ErrNotInstalled = errors.New("portal: a program of the headless wlroots desktop is not installed (Debian: apt-get install sway xdg-desktop-portal xdg-desktop-portal-wlr xdg-desktop-portal-gnome pipewire wireplumber dbus-daemon)")

// OutputName is the headless desktop's one output.
const OutputName = "HEADLESS-1"

// Headless is a wlroots desktop without a monitor, with a real desktop portal: a private
// session bus, sway on wlroots' headless backend (software rendering), PipeWire, WirePlumber,
// xdg-desktop-portal-wlr and xdg-desktop-portal, all in a private XDG_RUNTIME_DIR (and a
// private HOME, where the portal's permission store keeps restore tokens). The tests start one
// to drive the portal backend the way it runs on a sway or Hyprland desktop.
//
// sway refuses to run as root (it cannot drop privileges it never had), so as root sway runs
// as nobody and the runtime directory belongs to nobody; the other programs stay root.
type Headless struct {
	log     *slog.Logger
	dir     string // XDG_RUNTIME_DIR
	home    string
	bus     string
	wayland string
	procs   procgroup.Group
	once    sync.Once
}

// StartHeadless starts the desktop and returns once the portal's ScreenCast is on its bus.
func StartHeadless(ctx context.Context, cfg HeadlessConfig) (*Headless, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, p := range []string{"dbus-daemon", "pipewire", "wireplumber", "sway", xdpwPath, xdpPath} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%w: %s not found", ErrNotInstalled, p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	home, err := os.MkdirTemp("", "deskport-wlr-")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	h := &Headless{log: log, home: home, dir: filepath.Join(home, "run")}
	h.procs = procgroup.Group{Prefix: "portal", Dir: home, Env: h.env, Log: log}
	if err := h.start(ctx, cfg); err != nil {
		h.Close()
		return nil, err
	}
	log.Info("portal: headless wlroots desktop started", "runtime_dir", h.dir, "wayland", h.wayland, "size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
	return h, nil
}

const (
	xdpwPath = "/usr/libexec/xdg-desktop-portal-wlr"
	xdpPath  = "/usr/libexec/xdg-desktop-portal"

	permissionStorePath = "/usr/libexec/xdg-permission-store"
)

func (h *Headless) start(ctx context.Context, cfg HeadlessConfig) error {
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	swayCfg := filepath.Join(h.dir, "sway.config")
	if err := os.WriteFile(swayCfg, fmt.Appendf(nil, "output %s mode %dx%d position 0 0\ndefault_border none\nfocus_follows_mouse no\n", OutputName, cfg.Width, cfg.Height), 0o644); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	xdpwCfg := filepath.Join(h.home, "xdpw.config")
	chooser := "chooser_type=none\noutput_name=" + OutputName + "\n"
	if cfg.Chooser != "" {
		chooser = "chooser_type=simple\nchooser_cmd=" + cfg.Chooser + "\n"
	}
	if err := os.WriteFile(xdpwCfg, []byte("[screencast]\n"+chooser), 0o644); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		const nobody = 65534
		cred = &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: false, Groups: []uint32{}}
		if err := os.Chown(h.dir, nobody, nobody); err != nil {
			return fmt.Errorf("portal: %w", err)
		}
		if err := os.Chmod(h.home, 0o711); err != nil { // nobody must reach the runtime directory
			return fmt.Errorf("portal: %w", err)
		}
	}

	// The bus first: it prints its address once it listens. Its own configuration activates
	// only the permission store (where the portal keeps restore tokens), not the document
	// portal, whose FUSE mount in the runtime directory would outlive the desktop.
	busCfg, err := h.busConfig()
	if err != nil {
		return err
	}
	bus, err := h.procs.StartBus(ctx, []string{"--config-file=" + busCfg, "--nofork", "--nopidfile", "--nosyslog",
		"--print-address=1"})
	if err != nil {
		return err
	}
	h.bus = bus
	conn, err := dbus.Connect(h.bus)
	if err != nil {
		return fmt.Errorf("portal: connecting to the private bus: %w", err)
	}
	defer conn.Close()
	owners := make(chan *dbus.Signal, 16)
	conn.Signal(owners)
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		return fmt.Errorf("portal: watching the private bus: %w", err)
	}

	sway, _, err := h.procs.Spawn("sway", []string{"-c", swayCfg},
		procgroup.Options{Env: []string{"WLR_BACKENDS=headless", "WLR_LIBINPUT_NO_DEVICES=1", "WLR_RENDERER=pixman"}, Cred: cred})
	if err != nil {
		return err
	}
	// sway names its socket wayland-N, the first N free.
	if err := h.waitFile(ctx, sway, func() bool {
		m, _ := filepath.Glob(filepath.Join(h.dir, "wayland-[0-9]"))
		if len(m) > 0 {
			h.wayland = filepath.Base(m[0])
			return true
		}
		return false
	}); err != nil {
		return err
	}
	pw, _, err := h.procs.Spawn("pipewire", nil, procgroup.Options{})
	if err != nil {
		return err
	}
	// WirePlumber gives up at once if PipeWire's socket is not there yet (docs/wayland.md).
	sock := filepath.Join(h.dir, "pipewire-0")
	if err := h.waitFile(ctx, pw, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return err
	}
	wp, _, err := h.procs.Spawn("wireplumber", nil, procgroup.Options{})
	if err != nil {
		return err
	}
	// xdg-desktop-portal-wlr 0.7 forgets a choice (persist_mode 0, no restore data) unless
	// XDPW_PERSIST_MODE allows keeping it.
	xdpw, _, err := h.procs.Spawn(xdpwPath, []string{"-l", "DEBUG", "-c", xdpwCfg}, procgroup.Options{Env: []string{"XDPW_PERSIST_MODE=permanent"}})
	if err != nil {
		return err
	}
	if err := h.waitName(ctx, owners, "org.freedesktop.impl.portal.desktop.wlr", xdpw, wp); err != nil {
		return err
	}
	xdp, _, err := h.procs.Spawn(xdpPath, nil, procgroup.Options{})
	if err != nil {
		return err
	}
	return h.waitName(ctx, owners, desktopName, xdp, wp)
}

// busConfig writes a session bus configuration whose only activatable service is the
// portal's permission store.
func (h *Headless) busConfig() (string, error) {
	services := filepath.Join(h.home, "dbus-services")
	if err := os.Mkdir(services, 0o755); err != nil {
		return "", fmt.Errorf("portal: %w", err)
	}
	const store = "org.freedesktop.impl.portal.PermissionStore"
	svc := "[D-BUS Service]\nName=" + store + "\nExec=" + permissionStorePath + "\n"
	if err := os.WriteFile(filepath.Join(services, store+".service"), []byte(svc), 0o644); err != nil {
		return "", fmt.Errorf("portal: %w", err)
	}
	conf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <auth>EXTERNAL</auth>
  <listen>unix:path=` + filepath.Join(h.dir, "bus") + `</listen>
  <servicedir>` + services + `</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
	path := filepath.Join(h.home, "bus.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", fmt.Errorf("portal: %w", err)
	}
	return path, nil
}

// waitFile polls for a file the process p makes (no event to wait on for another process's
// socket), failing when p exits.
func (h *Headless) waitFile(ctx context.Context, p *procgroup.Proc, ok func() bool) error {
	for !ok() {
		select {
		case <-p.Done():
			return fmt.Errorf("portal: %s exited: %s", p.Name, p.Why())
		case <-ctx.Done():
			return fmt.Errorf("portal: waiting for %s: %w (it said: %s)", p.Name, ctx.Err(), p.Said())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (h *Headless) waitName(ctx context.Context, owners chan *dbus.Signal, name string, p, wp *procgroup.Proc) error {
	for {
		select {
		case sig := <-owners:
			if len(sig.Body) == 3 {
				n, _ := sig.Body[0].(string)
				owner, _ := sig.Body[2].(string)
				if n == name && owner != "" {
					return nil
				}
			}
		case <-p.Done():
			return fmt.Errorf("portal: %s exited: %s", p.Name, p.Why())
		case <-wp.Done():
			return fmt.Errorf("portal: wireplumber exited: %s", wp.Why())
		case <-ctx.Done():
			return fmt.Errorf("portal: waiting for %s on the bus: %w (%s said: %s)", name, ctx.Err(), p.Name, p.Said())
		}
	}
}

// env is the environment of every program in the desktop.
func (h *Headless) env() []string {
	env := []string{"XDG_RUNTIME_DIR=" + h.dir, "DBUS_SESSION_BUS_ADDRESS=" + h.bus, "HOME=" + h.home,
		"XDG_DATA_HOME=" + filepath.Join(h.home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(h.home, "config"),
		"XDG_CURRENT_DESKTOP=sway", "XDG_SESSION_TYPE=wayland"}
	if h.wayland != "" {
		env = append(env, "WAYLAND_DISPLAY="+h.wayland)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
			"XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE", "WAYLAND_DISPLAY", "DISPLAY", "SWAYSOCK",
			"PIPEWIRE_RUNTIME_DIR", "PIPEWIRE_REMOTE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Bus is the session bus address (DBUS_SESSION_BUS_ADDRESS), for Config.Bus.
func (h *Headless) Bus() string { return h.bus }

// RuntimeDir is the desktop's XDG_RUNTIME_DIR.
func (h *Headless) RuntimeDir() string { return h.dir }

// WaylandDisplay is sway's socket name (WAYLAND_DISPLAY).
func (h *Headless) WaylandDisplay() string { return h.wayland }

// Env is the environment for a program that should run in the desktop (a Wayland client, the
// host): the current one with XDG_RUNTIME_DIR, WAYLAND_DISPLAY, HOME and the bus replaced,
// DISPLAY removed.
func (h *Headless) Env() []string { return h.env() }

// Start runs cmd inside the desktop (its environment replaced by Env) in its own process
// group; Close stops it before the desktop. Give it *os.File outputs (os.Pipe), not
// StdoutPipe: Start waits for it.
func (h *Headless) Start(cmd *exec.Cmd) error { return h.procs.Start(cmd) }

// Close stops the programs started with Start, then the portal, WirePlumber, PipeWire, sway
// and the bus, and removes the directories. It is idempotent.
func (h *Headless) Close() error {
	h.once.Do(func() {
		h.procs.Close()
		os.RemoveAll(h.home)
	})
	return nil
}
