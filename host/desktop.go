package host

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc/pkg/media"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/h264"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/vp8"
	"github.com/deskport/deskport/screen/x11"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
)

// DesktopConfig says whether and how the host offers its screen.
type DesktopConfig struct {
	// Disabled turns the screen off: port forwarding only.
	Disabled bool
	// Backend is what the host shares: BackendX11 (an X display), BackendMutter (a GNOME
	// session on Wayland, through Mutter's screen-cast and remote-desktop APIs), BackendPortal
	// (the desktop portal: KDE, wlroots) or BackendAuto/"" (Mutter on a GNOME Wayland session,
	// else the portal on a Wayland session that has one, else X11).
	Backend string
	// Display is the X display to capture; empty means $DISPLAY.
	Display string
	// Monitor is the monitor to capture (0-based); -1 means the whole display.
	Monitor int
	// Codec is "vp8" (default) or "h264".
	Codec string
	// FPS is the capture rate; zero means 30.
	FPS int
	// MaxBitrate caps the video bitrate in bits per second; zero means 6 Mbit/s.
	MaxBitrate int
	// VirtualDisplay ("1280x720") starts and owns an Xvfb for a host without a monitor, or with
	// BackendMutter a headless GNOME session (Mutter with a virtual monitor of that size).
	VirtualDisplay string
	// Run is a command started inside the display (for example "xterm"), stopped on exit.
	Run string
	// StateDir is where the portal backend keeps its restore token (the host key's
	// directory); empty means the user's config directory.
	StateDir string
	// Out receives what the person at the machine must read (the portal's "click Share").
	Out io.Writer
}

// Backends of DesktopConfig.Backend (--backend).
const (
	BackendAuto   = "auto"
	BackendX11    = "x11"
	BackendMutter = "mutter"
)

// desktop is the host's running screen source.
type desktop struct {
	cfg     DesktopConfig
	log     *slog.Logger
	backend string // BackendX11, BackendMutter or BackendPortal
	xvfb    *xvfb.Server
	portal  *portalShare     // BackendPortal
	gnome   *mutter.Headless // --virtual-display with --backend mutter
	// The GNOME session's bus and runtime directory (BackendMutter); empty means the host's
	// own session ($DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR).
	bus, runtimeDir string
	idle            idleSessions

	mu          sync.Mutex
	streams     map[shareKey]*sharedStream // the running screen streams
	nextPrivate atomic.Int64
	// onFrame (the host's metrics) sees every frame a stream encodes: once, however many
	// viewers share it. Set before the first viewer.
	onFrame func(screen.FrameStats)
	// warm is an encoder made while a viewer authenticates (warmenc.go).
	warm  warmSlot
	encMu sync.Mutex // makeEncoder's
}

// idleSessions keeps the Mutter sessions no viewer uses, for the next viewer. Mutter 43.8 has a
// bug that makes reuse necessary: once a remote-desktop session whose stream was consumed is
// stopped, the next session's absolute pointer moves and buttons never reach a client (a
// reused session works, capture and input alike; docs/wayland.md). So the host stops them only
// when it exits.
type idleSessions struct {
	mu     sync.Mutex
	list   []*mutter.Session
	closed bool
}

func (p *idleSessions) take() *mutter.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.list) > 0 {
		s := p.list[len(p.list)-1]
		p.list = p.list[:len(p.list)-1]
		select {
		case <-s.Done(): // Mutter ended it meanwhile
			s.Close()
		default:
			return s
		}
	}
	return nil
}

func (p *idleSessions) put(s *mutter.Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		s.Close()
		return
	}
	p.list = append(p.list, s)
}

func (p *idleSessions) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.list {
		s.Close()
	}
	p.list = nil
}

// waylandSession reports whether the host runs in a Wayland session, where an X11 capture sees
// only the X11 programs (XWayland), not the desktop.
func waylandSession() bool {
	return os.Getenv("WAYLAND_DISPLAY") != "" || os.Getenv("XDG_SESSION_TYPE") == "wayland"
}

// chooseBackend resolves --backend auto: Mutter on a Wayland session that has it, X11
// otherwise. An explicit --display or an Xvfb --virtual-display means X11.
func chooseBackend(ctx context.Context, cfg DesktopConfig, log *slog.Logger) (string, error) {
	switch cfg.Backend {
	case BackendX11, BackendMutter, BackendPortal:
		return cfg.Backend, nil
	case "", BackendAuto:
	default:
		return "", fmt.Errorf("--backend %q: use x11, mutter, portal or auto", cfg.Backend)
	}
	if cfg.Display != "" || cfg.VirtualDisplay != "" {
		return BackendX11, nil
	}
	if !waylandSession() {
		return BackendX11, nil
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := mutter.Available(actx, "")
	if err == nil {
		return BackendMutter, nil
	}
	if perr := portalAvailable(actx); perr == nil {
		return BackendPortal, nil
	}
	if os.Getenv("DISPLAY") != "" {
		log.Warn("this is a Wayland session without GNOME's screen-cast service; sharing XWayland's X display, which shows only X11 programs", "reason", err)
		return BackendX11, nil
	}
	return "", fmt.Errorf("this is a Wayland session but %w", err)
}

// startDesktop opens the display (starting Xvfb or a headless GNOME when asked) and checks that
// capture works, so a host without a usable display says so at start, not at the first viewer.
func startDesktop(ctx context.Context, cfg DesktopConfig, log *slog.Logger) (*desktop, error) {
	d := &desktop{cfg: cfg, log: log}
	if cfg.Run != "" && cfg.VirtualDisplay == "" {
		return nil, fmt.Errorf("--run starts a program in the host's own virtual display: add --virtual-display WxH (on a real display, start programs yourself)")
	}
	backend, err := chooseBackend(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	d.backend = backend
	if backend == BackendMutter {
		return d, d.startMutter(ctx)
	}
	if backend == BackendPortal {
		if err := d.startPortal(ctx); err != nil {
			d.close()
			return nil, err
		}
		return d, nil
	}
	if cfg.VirtualDisplay != "" {
		w, h, err := xvfb.ParseSize(cfg.VirtualDisplay)
		if err != nil {
			return nil, err
		}
		d.xvfb, err = xvfb.Start(ctx, xvfb.Config{Width: w, Height: h, Logger: log})
		if err != nil {
			return nil, err
		}
		d.cfg.Display = d.xvfb.Display()
		log.Info("started a virtual display", "display", d.cfg.Display, "size", cfg.VirtualDisplay)
	}
	if d.cfg.Display == "" {
		d.cfg.Display = os.Getenv("DISPLAY")
	}
	if d.cfg.Display == "" {
		d.close()
		return nil, fmt.Errorf("no display to share: DISPLAY is not set; use --virtual-display 1280x720 for a headless host, or --no-desktop for port forwarding only")
	}
	c, err := d.x11Capturer(d.cfg.Monitor)
	if err != nil {
		d.close()
		return nil, err
	}
	c.Close()
	if waylandSession() && cfg.VirtualDisplay == "" {
		log.Warn("sharing an X display in a Wayland session: only X11 programs (XWayland) show and take input; on GNOME use --backend mutter")
	}
	log.Info("sharing the desktop", "backend", BackendX11, "display", d.cfg.Display)
	if cfg.Run != "" {
		// The program runs in its own process group inside the virtual display and is stopped
		// with it, children included.
		if _, err := d.xvfb.Run(ctx, cfg.Run); err != nil {
			d.close()
			return nil, fmt.Errorf("--run %q: %w", cfg.Run, err)
		}
		log.Info("started a program in the display", "run", cfg.Run)
	}
	return d, nil
}

// startMutter prepares the GNOME backend: a headless GNOME for --virtual-display, and one
// trial session that proves capture works.
func (d *desktop) startMutter(ctx context.Context) error {
	cfg := d.cfg
	if cfg.VirtualDisplay != "" {
		hc, err := headlessSizes(cfg.VirtualDisplay) // desktop_mutter.go
		if err != nil {
			return err
		}
		hc.Logger = d.log
		d.gnome, err = mutter.StartHeadless(ctx, hc)
		if err != nil {
			return err
		}
		d.bus, d.runtimeDir = d.gnome.Bus(), d.gnome.RuntimeDir()
		d.log.Info("started a headless GNOME session", "size", cfg.VirtualDisplay, "runtime_dir", d.runtimeDir)
	} else if err := mutter.Available(ctx, ""); err != nil {
		return err
	}
	s, err := d.mutterSession(ctx)
	if err != nil {
		d.close()
		return err
	}
	c, err := s.CapturerFor(ctx, cfg.Monitor) // -1: the whole desktop
	if err == nil {
		f, _ := c.Capture()
		if f != nil {
			d.log.Info("sharing the desktop", "backend", BackendMutter, "width", f.Width, "height", f.Height)
		}
		c.Close()
		d.idle.put(s) // the first viewer's
	} else {
		s.Close()
	}
	if err != nil {
		d.close()
		return fmt.Errorf("the GNOME screen cast gives no picture: %w", err)
	}
	if cfg.Run != "" {
		cmd := exec.Command("/bin/sh", "-c", cfg.Run)
		if err := d.gnome.Start(cmd); err != nil {
			d.close()
			return fmt.Errorf("--run %q: %w", cfg.Run, err)
		}
		d.log.Info("started a program in the GNOME session", "run", cfg.Run)
	}
	return nil
}

// mutterSession opens a GNOME remote-desktop session with its screen cast (BackendMutter).
// Mutter sends at most --fps frames a second: each costs it a read-back of the whole screen.
func (d *desktop) mutterSession(ctx context.Context) (*mutter.Session, error) {
	fps := d.cfg.FPS
	if fps <= 0 {
		fps = 30
	}
	return mutter.Open(ctx, mutter.Config{Bus: d.bus, RuntimeDir: d.runtimeDir, Cursor: true, MaxFPS: fps, Logger: d.log})
}

func (d *desktop) x11Capturer(monitor int) (*x11.Capturer, error) {
	return x11.Open(x11.Config{Display: d.cfg.Display, Monitor: monitor, Cursor: true})
}

// monitors lists the shared display's monitors (the GNOME session's, from Mutter's
// DisplayConfig, on the mutter backend).
func (d *desktop) monitors() ([]screen.Monitor, error) {
	switch d.backend {
	case BackendMutter:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return mutter.Monitors(ctx, d.bus)
	case BackendPortal:
		return nil, errPortalMonitors
	}
	return x11.Monitors(d.cfg.Display)
}

// gnomeSession is one viewer session's GNOME remote-desktop session (BackendMutter): taken by
// the first of the screen stream and the input stream to need it, so that both share it (the
// pointer lands on the streamed monitor), and given back for the next viewer when the viewer
// session ends.
type gnomeSession struct {
	mu  sync.Mutex
	d   *desktop
	s   *mutter.Session
	err error
}

func (g *gnomeSession) get(ctx context.Context, d *desktop) (*mutter.Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.s == nil && g.err == nil {
		g.d = d
		if g.s = d.idle.take(); g.s == nil {
			g.s, g.err = d.mutterSession(ctx)
		}
	}
	return g.s, g.err
}

func (g *gnomeSession) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.s != nil {
		g.d.idle.put(g.s)
		g.s = nil
	}
	g.err = mutter.ErrClosed
}

func (d *desktop) videoConfig() *session.VideoConfig {
	return &session.VideoConfig{Codec: d.cfg.Codec, MaxBitrate: d.maxBitrate()}
}

func (d *desktop) maxBitrate() int {
	if d.cfg.MaxBitrate > 0 {
		return d.cfg.MaxBitrate
	}
	return screen.DefaultMaxBitrate
}

// newEncoder is a stream's encoder: the warm one when it was made for w×h (prewarm), else a
// new one.
func (d *desktop) newEncoder(w, h, bitrate int) (screen.Encoder, error) {
	if enc := d.warm.take(w, h); enc != nil {
		if err := enc.SetBitrate(bitrate); err == nil {
			return enc, nil
		}
		enc.Close()
	}
	return d.makeEncoder(w, h, bitrate)
}

// makeEncoder makes one encoder at a time: the warm encoder's set-up runs in a goroutine of its
// own, and libvpx's one-time initialisation (vp8_initialize_enc) is not guarded against two
// first calls at once.
func (d *desktop) makeEncoder(w, h, bitrate int) (screen.Encoder, error) {
	d.encMu.Lock()
	defer d.encMu.Unlock()
	switch d.cfg.Codec {
	case "", screen.CodecVP8:
		return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: d.cfg.FPS, Bitrate: bitrate})
	case screen.CodecH264:
		return h264.NewEncoder(h264.Config{Width: w, Height: h, FPS: d.cfg.FPS, Bitrate: bitrate})
	}
	return nil, fmt.Errorf("%w: codec %q", screen.ErrUnsupported, d.cfg.Codec)
}

// area is the screen rectangle one session sees, in root-window coordinates: input maps the
// viewer's normalised pointer into it. The stream updates it after every capture (a resize or a
// monitor change); before the first, it is the display's layout at session start. A session's
// area follows the area of the shared stream it watches (follow).
type area struct {
	v   atomic.Value
	src atomic.Pointer[area]
}

func (a *area) set(x, y, w, h int) { a.v.Store([4]int{x, y, w, h}) }

func (a *area) get() (x, y, w, h int) {
	if src := a.src.Load(); src != nil {
		return src.get()
	}
	r, _ := a.v.Load().([4]int)
	return r[0], r[1], r[2], r[3]
}

// follow makes a report src's rectangle from now on.
func (a *area) follow(src *area) { a.src.Store(src) }

// newArea starts a session's area from the display's monitor layout.
func (d *desktop) newArea() *area { return d.newAreaFor(d.cfg.Monitor) }

// newAreaFor is the rectangle of a monitor (-1: the whole display) from the display's layout
// (for Mutter, the first capture sets it: the stream's own pixels).
func (d *desktop) newAreaFor(monitor int) *area {
	a := &area{}
	a.set(0, 0, 0, 0)
	if d.backend == BackendMutter {
		return a // the pointer is in the stream's own pixels, set by the first capture
	}
	mons, err := d.monitors()
	if err != nil || len(mons) == 0 {
		return a
	}
	if monitor >= 0 && monitor < len(mons) {
		m := mons[monitor]
		a.set(m.X, m.Y, m.Width, m.Height)
		return a
	}
	x0, y0, x1, y1 := mons[0].X, mons[0].Y, mons[0].X+mons[0].Width, mons[0].Y+mons[0].Height
	for _, m := range mons[1:] {
		x0, y0 = min(x0, m.X), min(y0, m.Y)
		x1, y1 = max(x1, m.X+m.Width), max(y1, m.Y+m.Height)
	}
	a.set(x0, y0, x1-x0, y1-y0)
	return a
}

// rectCapturer is a capturer that knows the rectangle it captures, in the coordinates its
// backend's input takes (x11.Capturer, pipewire.Capturer).
type rectCapturer interface {
	screen.Capturer
	Rect() (x, y, w, h int)
}

// trackingCapturer records the captured rectangle after every capture, on the capture goroutine.
type trackingCapturer struct {
	rectCapturer
	area *area
}

// Frames passes on the capturer's frame announcements (screen.FrameNotifier), if it has them.
func (t trackingCapturer) Frames() <-chan struct{} {
	if n, ok := t.rectCapturer.(screen.FrameNotifier); ok {
		return n.Frames()
	}
	return nil
}

func (t trackingCapturer) Capture() (*screen.Frame, error) {
	f, err := t.rectCapturer.Capture()
	if err == nil {
		t.area.set(t.rectCapturer.Rect())
	}
	return f, err
}

// shareKey names a shared screen stream: viewers that watch the same monitor at the same frame
// rate and bitrate ceiling see the same encoded frames. private is non-zero for a stream of one
// viewer's own (one whose path could not keep up with the others').
type shareKey struct {
	monitor, fps, maxBitrate int
	private                  int64
}

// sharedStream is one running screen stream and the rectangle it captures.
type sharedStream struct {
	key  shareKey
	fan  *screen.Fanout
	area *area
}

// defaultKey is the stream a new viewer watches: the host's monitor and quality settings.
func (d *desktop) defaultKey() shareKey {
	return shareKey{monitor: d.cfg.Monitor, fps: d.cfg.FPS, maxBitrate: d.maxBitrate()}
}

// opener opens a capturer of a monitor for a new stream.
type opener func(monitor int) (rectCapturer, error)

// join adds a viewer to the shared stream for key, starting that stream (and opening its
// capturer with open) when none runs. write receives the encoded frames.
func (d *desktop) join(key shareKey, open opener, write func([]byte, time.Duration) error) (*sharedStream, *screen.Viewer, error) {
	for range 3 {
		s, err := d.shared(key, open)
		if err != nil {
			return nil, nil, err
		}
		v, err := s.fan.Join(write)
		if err == nil {
			return s, v, nil
		}
		// The stream ended between the lookup and the join (its last viewer just left).
		d.mu.Lock()
		if d.streams[key] == s {
			delete(d.streams, key)
		}
		d.mu.Unlock()
	}
	return nil, nil, screen.ErrFanoutClosed
}

// shared returns the running stream for key, or starts one with a capturer from open.
func (d *desktop) shared(key shareKey, open opener) (*sharedStream, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.streams[key]; ok {
		return s, nil
	}
	c, err := open(key.monitor)
	if err != nil {
		return nil, err
	}
	a := d.newAreaFor(key.monitor)
	fan, err := screen.NewFanout(screen.StreamConfig{
		Capturer: trackingCapturer{rectCapturer: c, area: a}, NewEncoder: d.newEncoder,
		FPS: key.fps, MaxBitrate: key.maxBitrate, Logger: d.log, OnFrame: d.onFrame,
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	s := &sharedStream{key: key, fan: fan, area: a}
	if d.streams == nil {
		d.streams = map[shareKey]*sharedStream{}
	}
	d.streams[key] = s
	go func() {
		<-fan.Done()
		if err := fan.Err(); err != nil {
			d.log.Warn("screen stream ended", "err", err)
		}
		d.mu.Lock()
		if d.streams[key] == s {
			delete(d.streams, key)
		}
		d.mu.Unlock()
	}()
	return s, nil
}

// privateKey is key made private to one viewer.
func (d *desktop) privateKey(key shareKey) shareKey {
	key.private = d.nextPrivate.Add(1)
	return key
}

// stream sends the screen to one authenticated viewer until ctx ends or the connection does.
// The viewer joins the stream other viewers with the same settings watch (one capture and one
// encode for all of them); a viewer whose path cannot keep up gets a stream of its own, and a
// quality or monitor change moves it to the stream for its new settings (desktopctl.go).
func (d *desktop) stream(ctx context.Context, conn *session.HostConn, it *interactive, log *slog.Logger) {
	write := func(data []byte, dur time.Duration) error {
		// dur is the time since this viewer's previous frame. pion stamps a sample with the
		// sum of the durations written before it, so a frame written with its own dur would
		// carry its predecessor's time: each frame's RTP timestamp would be off from its
		// send time by how much its interval differs from the previous one. The browser's
		// jitter buffer takes that for network jitter and holds every frame longer, which
		// hurts whenever frames come irregularly (a compositor's, or a screen that changes
		// now and then). An empty sample advances the clock by dur first (pion sends nothing
		// for it), so the frame is stamped with its own time.
		if err := conn.Video.WriteSample(media.Sample{Duration: dur}); err != nil {
			return err
		}
		return conn.Video.WriteSample(media.Sample{Data: data})
	}
	key := d.defaultKey()
	if d.backend == BackendMutter {
		// Each viewer's GNOME session captures for it and takes its input (gnomeSession).
		key = d.privateKey(key)
	}
	if err := it.watch(ctx, key, write); err != nil {
		log.Error("cannot stream the screen to this viewer", "err", err)
		return
	}
	defer it.stopWatching()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		v := it.viewer()
		if v == nil {
			return
		}
		lagging := v.Lagging()
		if cur := it.current(); cur != nil && cur.key.private != 0 {
			lagging = nil // a stream of its own already: nothing to move to
		}
		select {
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-it.moved:
		case <-conn.Keyframes:
			v.RequestKeyframe()
		case <-t.C:
			if conn.Estimator != nil {
				v.SetBitrate(conn.Estimator.GetTargetBitrate())
			}
		case <-lagging:
			log.Info("this viewer's path is much slower than the other viewers': giving it a screen stream of its own")
			if err := it.moveTo(func(k shareKey) shareKey { return d.privateKey(k) }); err != nil {
				log.Warn("screen stream ended", "err", err)
				return
			}
		case <-v.Done():
			if it.viewer() != v {
				continue // moved to another stream
			}
			if err := v.Err(); err != nil {
				log.Warn("screen stream ended", "err", err)
			}
			return
		}
	}
}

func (d *desktop) close() {
	d.warm.close()
	d.idle.close()
	d.portal.close()
	if d.xvfb != nil {
		d.xvfb.Close()
	}
	if d.gnome != nil {
		d.gnome.Close()
	}
}
