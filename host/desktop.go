package host

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc/pkg/media"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/h264"
	"github.com/deskport/deskport/screen/vp8"
	"github.com/deskport/deskport/screen/x11"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
)

// DesktopConfig says whether and how the host offers its screen.
type DesktopConfig struct {
	// Disabled turns the screen off: port forwarding only.
	Disabled bool
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
	// VirtualDisplay ("1280x720") starts and owns an Xvfb for a host without a monitor.
	VirtualDisplay string
	// Run is a command started inside the display (for example "xterm"), stopped on exit.
	Run string
}

// desktop is the host's running screen source.
type desktop struct {
	cfg  DesktopConfig
	log  *slog.Logger
	xvfb *xvfb.Server
}

// startDesktop opens the display (starting Xvfb when asked) and checks that capture works, so a
// host without a usable display says so at start, not at the first viewer.
func startDesktop(ctx context.Context, cfg DesktopConfig, log *slog.Logger) (*desktop, error) {
	d := &desktop{cfg: cfg, log: log}
	if cfg.Run != "" && cfg.VirtualDisplay == "" {
		return nil, fmt.Errorf("--run starts a program in the host's own virtual display: add --virtual-display WxH (on a real display, start programs yourself)")
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
	c, err := d.capturer()
	if err != nil {
		d.close()
		return nil, err
	}
	c.Close()
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

func (d *desktop) capturer() (*x11.Capturer, error) {
	return x11.Open(x11.Config{Display: d.cfg.Display, Monitor: d.cfg.Monitor, Cursor: true})
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

func (d *desktop) newEncoder(w, h, bitrate int) (screen.Encoder, error) {
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
// monitor change); before the first, it is the display's layout at session start.
type area struct{ v atomic.Value }

func (a *area) set(x, y, w, h int) { a.v.Store([4]int{x, y, w, h}) }

func (a *area) get() (x, y, w, h int) {
	r, _ := a.v.Load().([4]int)
	return r[0], r[1], r[2], r[3]
}

// newArea starts a session's area from the display's monitor layout.
func (d *desktop) newArea() *area {
	a := &area{}
	a.set(0, 0, 0, 0)
	mons, err := x11.Monitors(d.cfg.Display)
	if err != nil || len(mons) == 0 {
		return a
	}
	if d.cfg.Monitor >= 0 && d.cfg.Monitor < len(mons) {
		m := mons[d.cfg.Monitor]
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

// trackingCapturer records the captured rectangle after every capture, on the capture goroutine.
type trackingCapturer struct {
	*x11.Capturer
	area *area
}

func (t trackingCapturer) Capture() (*screen.Frame, error) {
	f, err := t.Capturer.Capture()
	if err == nil {
		t.area.set(t.Capturer.Rect())
	}
	return f, err
}

// stream sends the screen to one authenticated viewer until ctx ends or the connection does.
func (d *desktop) stream(ctx context.Context, conn *session.Conn, it *interactive, log *slog.Logger, onFrame func(screen.FrameStats)) {
	c, err := d.capturer()
	if err != nil {
		log.Error("cannot capture the screen for this viewer", "err", err)
		return
	}
	capt := trackingCapturer{Capturer: c, area: it.area}
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: capt, NewEncoder: d.newEncoder, FPS: d.cfg.FPS, MaxBitrate: d.maxBitrate(), Logger: log, OnFrame: onFrame,
	})
	if err != nil {
		c.Close()
		log.Error("cannot stream the screen", "err", err)
		return
	}
	it.setStream(st, capt)
	defer it.closeStream()
	ctx, cancel := context.WithCancel(ctx)
	// One helper feeds the stream keyframe requests and the congestion controller's bitrate,
	// and ends it when the connection ends; it is waited for before stream returns.
	helper := make(chan struct{})
	defer func() { cancel(); <-helper }()
	go func() {
		defer close(helper)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-conn.Done():
				cancel()
				return
			case <-conn.Keyframes:
				st.RequestKeyframe()
			case <-t.C:
				if conn.Estimator != nil {
					st.SetBitrate(conn.Estimator.GetTargetBitrate())
				}
			}
		}
	}()
	err = st.Run(ctx, func(data []byte, dur time.Duration) error {
		return conn.Video.WriteSample(media.Sample{Data: data, Duration: dur})
	})
	if err != nil {
		log.Warn("screen stream ended", "err", err)
	}
}

func (d *desktop) close() {
	if d.xvfb != nil {
		d.xvfb.Close()
	}
}
