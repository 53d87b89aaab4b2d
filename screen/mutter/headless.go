//go:build linux

package mutter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// Headless is a GNOME compositor without a monitor: a private session bus, PipeWire,
// WirePlumber and `mutter --headless` with one virtual monitor, all in a private
// XDG_RUNTIME_DIR. It is what gnome-remote-desktop's and GTK's CI run; the host starts one for
// --virtual-display with --backend mutter, and the tests start one each.
type Headless struct {
	log   *slog.Logger
	dir   string
	bus   string
	procs []*headlessProc // in start order
	once  sync.Once

	mu   sync.Mutex
	runs []*headlessProc
}

type headlessProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	tail *tail
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
	if err := h.start(ctx, cfg); err != nil {
		h.Close()
		return nil, err
	}
	log.Info("mutter: headless GNOME session started", "runtime_dir", dir, "size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
	return h, nil
}

func (h *Headless) start(ctx context.Context, cfg HeadlessConfig) error {
	// The bus first: it prints its address once it listens.
	busProc, out, err := h.spawn("dbus-daemon", []string{"--session", "--nofork", "--nopidfile", "--nosyslog",
		"--address=unix:path=" + filepath.Join(h.dir, "bus"), "--print-address=1"}, true)
	if err != nil {
		return err
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case h.bus = <-addr:
	case <-ctx.Done():
		return fmt.Errorf("mutter: waiting for dbus-daemon: %w", ctx.Err())
	}
	if h.bus == "" {
		return fmt.Errorf("mutter: dbus-daemon did not start: %s", busProc.why())
	}
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
	if _, _, err := h.spawn("pipewire", nil, false); err != nil {
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
	wp, _, err := h.spawn("wireplumber", nil, false)
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
	mutter, _, err := h.spawn("mutter", args, false)
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
		case <-mutter.done:
			return fmt.Errorf("mutter: mutter --headless exited: %s", mutter.why())
		case <-wp.done:
			return fmt.Errorf("mutter: wireplumber exited: %s", wp.why())
		case <-ctx.Done():
			return fmt.Errorf("mutter: waiting for Mutter's ScreenCast service: %w (mutter said: %s)", ctx.Err(), mutter.tail.String())
		}
	}
	select {
	case <-wp.done:
		return fmt.Errorf("mutter: wireplumber exited: %s", wp.why())
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

func (h *Headless) spawn(name string, args []string, stdout bool) (*headlessProc, io.ReadCloser, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = h.env()
	cmd.Dir = h.dir
	// Own process group, and stopped with the host even if it dies without Close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p := &headlessProc{name: name, cmd: cmd, done: make(chan struct{}), tail: &tail{max: 4096}}
	var out io.ReadCloser
	var err error
	if stdout {
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, nil, fmt.Errorf("mutter: %w", err)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("mutter: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("mutter: start %s: %w", name, err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.tail.write(sc.Text() + "\n")
			h.log.Debug(name, "msg", sc.Text())
		}
	}()
	go func() {
		<-logDone
		cmd.Wait()
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p, out, nil
}

func (p *headlessProc) why() string {
	<-p.done
	if s := strings.TrimSpace(p.tail.String()); s != "" {
		return s
	}
	return p.cmd.ProcessState.String()
}

// stop ends the process group: SIGTERM, then SIGKILL after 5 s.
func (p *headlessProc) stop() {
	select {
	case <-p.done:
		return // its group may be gone and its id reused
	default:
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
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
func (h *Headless) Start(cmd *exec.Cmd) error {
	cmd.Env = h.env()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mutter: start %s: %w", cmd.Path, err)
	}
	p := &headlessProc{name: cmd.Path, cmd: cmd, done: make(chan struct{}), tail: &tail{}}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	h.mu.Lock()
	h.runs = append(h.runs, p)
	h.mu.Unlock()
	return nil
}

// Close stops the programs started with Start, then Mutter, WirePlumber, PipeWire and the bus,
// and removes the runtime directory. It is idempotent.
func (h *Headless) Close() error {
	h.once.Do(func() {
		h.mu.Lock()
		runs, procs := h.runs, h.procs
		h.mu.Unlock()
		for _, p := range runs {
			p.stop()
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		os.RemoveAll(h.dir)
	})
	return nil
}

// tail keeps the last max bytes written, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) write(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, s...)
	if t.max > 0 && len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
