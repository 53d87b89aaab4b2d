//go:build linux

package mutter

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/deskport/deskport/internal/procgroup"
)

// Headless is a GNOME compositor without a monitor: a private session bus, PipeWire,
// WirePlumber and `mutter --headless` with one virtual monitor, all in a private
// XDG_RUNTIME_DIR. It is what gnome-remote-desktop's and GTK's CI run; the host starts one for
// --virtual-display with --backend mutter, and the tests start one each.
type Headless struct {
	log   *slog.Logger
	dir   string
	bus   string
	procs procgroup.Group
	once  sync.Once
}

// StartHeadless starts the session and returns once Mutter's ScreenCast and RemoteDesktop
// services are on its bus and PipeWire's socket exists.
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
	for _, p := range []string{"dbus-daemon", "pipewire", "wireplumber", "mutter"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%w: %s not found", ErrNotInstalled, p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "deskport-gnome-")
	if err != nil {
		return nil, fmt.Errorf("mutter: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mutter: %w", err)
	}
	h := &Headless{log: log, dir: dir}
	h.procs = procgroup.Group{Prefix: "mutter", Dir: dir, Env: h.env, Log: log}
	if err := h.start(ctx, cfg); err != nil {
		h.Close()
		return nil, err
	}
	log.Info("mutter: headless GNOME session started", "runtime_dir", dir, "size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
	return h, nil
}

func (h *Headless) start(ctx context.Context, cfg HeadlessConfig) error {
	// The bus first: it prints its address once it listens.
	bus, err := h.procs.StartBus(ctx, []string{"--session", "--nofork", "--nopidfile", "--nosyslog",
		"--address=unix:path=" + filepath.Join(h.dir, "bus"), "--print-address=1"})
	if err != nil {
		return err
	}
	h.bus = bus
	conn, err := dbus.Connect(h.bus)
	if err != nil {
		return fmt.Errorf("mutter: connecting to the private bus: %w", err)
	}
	defer conn.Close()
	owners := make(chan *dbus.Signal, 16)
	conn.Signal(owners)
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		return fmt.Errorf("mutter: watching the private bus: %w", err)
	}
	if _, _, err := h.procs.Spawn("pipewire", nil, procgroup.Options{}); err != nil {
		return err
	}
	// WirePlumber connects to PipeWire's socket at once and gives up if it is not there yet;
	// without it, streams are announced but never linked, so no frame ever flows.
	sock := filepath.Join(h.dir, "pipewire-0")
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mutter: PipeWire never made %s: %w", sock, ctx.Err())
		case <-time.After(5 * time.Millisecond): // polling a file's existence; no event to wait on
		}
	}
	wp, _, err := h.procs.Spawn("wireplumber", nil, procgroup.Options{})
	if err != nil {
		return err
	}
	mode := func(w, h int) string {
		if cfg.Refresh > 0 {
			return fmt.Sprintf("%dx%d@%d", w, h, cfg.Refresh)
		}
		return fmt.Sprintf("%dx%d", w, h)
	}
	args := []string{"--headless", "--wayland", "--no-x11", "--virtual-monitor", mode(cfg.Width, cfg.Height)}
	for _, m := range cfg.Extra {
		args = append(args, "--virtual-monitor", mode(m[0], m[1]))
	}
	mutter, _, err := h.procs.Spawn("mutter", args, procgroup.Options{})
	if err != nil {
		return err
	}
	need := map[string]bool{screenCastName: true, remoteDesktopName: true}
	for len(need) > 0 {
		select {
		case sig := <-owners:
			if len(sig.Body) == 3 {
				name, _ := sig.Body[0].(string)
				owner, _ := sig.Body[2].(string)
				if owner != "" {
					delete(need, name)
				}
			}
		case <-mutter.Done():
			return fmt.Errorf("mutter: mutter --headless exited: %s", mutter.Why())
		case <-wp.Done():
			return fmt.Errorf("mutter: wireplumber exited: %s", wp.Why())
		case <-ctx.Done():
			return fmt.Errorf("mutter: waiting for Mutter's ScreenCast service: %w (mutter said: %s)", ctx.Err(), mutter.Said())
		}
	}
	select {
	case <-wp.Done():
		return fmt.Errorf("mutter: wireplumber exited: %s", wp.Why())
	default:
	}
	return nil
}

// env is the environment of every program in the session.
func (h *Headless) env() []string {
	env := []string{"XDG_RUNTIME_DIR=" + h.dir, "DBUS_SESSION_BUS_ADDRESS=" + h.bus,
		"GSETTINGS_BACKEND=memory", "XDG_SESSION_TYPE=wayland", "WAYLAND_DISPLAY=wayland-0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "GSETTINGS_BACKEND", "XDG_SESSION_TYPE",
			"WAYLAND_DISPLAY", "DISPLAY", "PIPEWIRE_RUNTIME_DIR", "PIPEWIRE_REMOTE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Bus is the session bus address (DBUS_SESSION_BUS_ADDRESS), for Config.Bus.
func (h *Headless) Bus() string { return h.bus }

// RuntimeDir is the session's XDG_RUNTIME_DIR, for Config.RuntimeDir.
func (h *Headless) RuntimeDir() string { return h.dir }

// Env is the environment for a program that should run in the session (a Wayland client):
// the current one with XDG_RUNTIME_DIR, WAYLAND_DISPLAY and the bus replaced, DISPLAY removed.
func (h *Headless) Env() []string { return h.env() }

// Start runs cmd inside the session (its environment replaced by Env) in its own process
// group; Close stops it before the session. Start waits for it, so give it *os.File outputs
// (os.Pipe), not StdoutPipe.
func (h *Headless) Start(cmd *exec.Cmd) error { return h.procs.Start(cmd) }

// Close stops the programs started with Start, then Mutter, WirePlumber, PipeWire and the bus,
// and removes the runtime directory. It is idempotent.
func (h *Headless) Close() error {
	h.once.Do(func() {
		h.procs.Close()
		os.RemoveAll(h.dir)
	})
	return nil
}
