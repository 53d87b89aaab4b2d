//go:build linux && cgo

package pipewire

/*
#cgo pkg-config: libpipewire-0.3
#include <stdlib.h>
#include "consumer.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/deskport/deskport/screen"
)

// Dial connects to the PipeWire daemon's socket in runtimeDir ("" means $PIPEWIRE_RUNTIME_DIR,
// else $XDG_RUNTIME_DIR), named pipewire-0 unless $PIPEWIRE_REMOTE names another.
func Dial(runtimeDir string) (*os.File, error) {
	if runtimeDir == "" {
		runtimeDir = os.Getenv("PIPEWIRE_RUNTIME_DIR")
	}
	if runtimeDir == "" {
		runtimeDir = os.Getenv("XDG_RUNTIME_DIR")
	}
	name := os.Getenv("PIPEWIRE_REMOTE")
	if name == "" {
		name = "pipewire-0"
	}
	path := name
	if !filepath.IsAbs(name) {
		if runtimeDir == "" {
			return nil, errors.New("pipewire: XDG_RUNTIME_DIR is not set, so the PipeWire socket cannot be found; run the host inside the desktop session")
		}
		path = filepath.Join(runtimeDir, name)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("pipewire: connect to %s: %w; is PipeWire running in this session?", path, err)
	}
	defer c.Close()
	f, err := c.File() // a blocking duplicate, as libpipewire expects
	if err != nil {
		return nil, fmt.Errorf("pipewire: %w", err)
	}
	return f, nil
}

// Capturer consumes one PipeWire video stream. One goroutine calls Capture (and Wait); Close
// may come from any goroutine after the last Capture has returned.
type Capturer struct {
	log   *slog.Logger
	node  uint32
	p     *C.dpw
	ev    *os.File // eventfd: the loop thread writes to it on every frame and on failure
	frame screen.Frame
	full  bool
	once  sync.Once

	notify     sync.Once
	frames     chan struct{} // Frames: one token per frame (or failure) not yet taken
	stopNotify context.CancelFunc
	notifyDone chan struct{}
}

var (
	_ screen.Capturer      = (*Capturer)(nil)
	_ screen.FrameNotifier = (*Capturer)(nil)
)

// Frames announces every new frame (and a failure, which the next Capture reports), for a
// screen.Stream to capture it at once. From the first call on, a goroutine waits for the
// frames: Wait must not be called any more.
func (c *Capturer) Frames() <-chan struct{} {
	c.notify.Do(func() {
		if c.p == nil {
			return
		}
		c.frames = make(chan struct{}, 1)
		c.notifyDone = make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		c.stopNotify = cancel
		go func() {
			defer close(c.notifyDone)
			for c.Wait(ctx) == nil {
				select {
				case c.frames <- struct{}{}:
				default: // one pending announcement is enough
				}
			}
		}()
	})
	return c.frames
}

// Open connects to the stream and waits (up to cfg.FirstFrame, or until ctx ends) for its
// first frame, so that a Capturer always has a picture.
func Open(ctx context.Context, cfg Config) (*Capturer, error) {
	if cfg.Conn == nil {
		return nil, errors.New("pipewire: Config.Conn is nil; use Dial")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.FirstFrame <= 0 {
		cfg.FirstFrame = 10 * time.Second
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		cfg.Conn.Close()
		return nil, fmt.Errorf("pipewire: eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "pipewire-frames")
	// libpipewire owns the connection from here: hand it a duplicate and drop ours.
	fd, err := unix.FcntlInt(cfg.Conn.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	cfg.Conn.Close()
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("pipewire: dup: %w", err)
	}
	var msg [256]C.char
	p := C.dpw_open(C.int(fd), C.uint32_t(cfg.Node), C.int(efd), C.int(max(cfg.MaxFPS, 0)), &msg[0], C.int(len(msg)))
	if p == nil {
		ev.Close()
		return nil, fmt.Errorf("pipewire: %s", C.GoString(&msg[0]))
	}
	c := &Capturer{log: log, node: cfg.Node, p: p, ev: ev}
	wctx, cancel := context.WithTimeout(ctx, cfg.FirstFrame)
	defer cancel()
	for {
		_, err := c.Capture()
		if err == nil {
			break
		}
		if !errors.Is(err, errNoFrame) {
			c.Close()
			return nil, err
		}
		if err := c.Wait(wctx); err != nil {
			c.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w (node %d, waited %v)", ErrNoFrame, cfg.Node, cfg.FirstFrame)
		}
	}
	log.Info("pipewire: capturing", "node", cfg.Node, "width", c.frame.Width, "height", c.frame.Height)
	return c, nil
}

var errNoFrame = errors.New("pipewire: no frame yet")

// Capture returns the newest frame. The Frame and its Pix belong to the Capturer and are valid
// until the next Capture (Pix is the producer's shared-memory buffer itself, kept from the
// producer until then). Changed is false when no new frame arrived since the previous Capture.
// A new Width or Height means the stream changed size. A Capture that fails leaves the previous
// Frame as it was.
func (c *Capturer) Capture() (*screen.Frame, error) {
	if c.p == nil {
		return nil, ErrClosed
	}
	var (
		pix                           *C.uint8_t
		w, h, stride, changed, realoc C.int
		msg                           [256]C.char
	)
	full := c.full
	c.full = false
	switch rc := C.dpw_capture(c.p, cbool(full), &pix, &w, &h, &stride, &changed, &realoc, &msg[0], C.int(len(msg))); rc {
	case C.DPW_OK:
	case C.DPW_NO_FRAME:
		c.full = full
		return nil, errNoFrame
	case C.DPW_ERR_STREAM, C.DPW_ERR_CONNECT:
		return nil, fmt.Errorf("%w: node %d: %s", ErrStreamEnded, c.node, C.GoString(&msg[0]))
	case C.DPW_ERR_FORMAT:
		return nil, fmt.Errorf("pipewire: node %d: %s: %w", c.node, C.GoString(&msg[0]), screen.ErrUnsupported)
	default:
		return nil, fmt.Errorf("pipewire: node %d: %s", c.node, C.GoString(&msg[0]))
	}
	// Pix is the producer's buffer itself when it is shared memory we could map (no copy),
	// a different one from frame to frame, else the consumer's own copy.
	resized := int(w) != c.frame.Width || int(h) != c.frame.Height
	c.frame.Width, c.frame.Height, c.frame.Stride = int(w), int(h), int(stride)
	c.frame.Pix = unsafe.Slice((*byte)(unsafe.Pointer(pix)), int(stride)*int(h))
	if resized {
		c.log.Info("pipewire: stream size", "node", c.node, "width", c.frame.Width, "height", c.frame.Height)
	}
	c.frame.Changed = changed != 0
	return &c.frame, nil
}

// Wait blocks until a frame newer than the last Capture may have arrived, the stream failed,
// or ctx ends. It may return early (then Capture reports Changed false); it never sleeps for a
// fixed time, so tests wait for a picture with it.
func (c *Capturer) Wait(ctx context.Context) error {
	if c.p == nil {
		return ErrClosed
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.ev.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	var b [8]byte
	_, err := c.ev.Read(b[:])
	if !stop() {
		<-fired // the deadline is set: clear it for the next Wait
		_ = c.ev.SetReadDeadline(time.Time{})
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("pipewire: %w", err)
	}
	return nil
}

// Rect is the captured picture's rectangle: the stream's own pixels, from 0, 0. Input for a
// screen-cast stream is addressed in the same pixels.
func (c *Capturer) Rect() (x, y, width, height int) { return 0, 0, c.frame.Width, c.frame.Height }

// Invalidate makes the next Capture copy the whole picture and report it Changed.
func (c *Capturer) Invalidate() { c.full = true }

// Stats are the capturer's counters since Open.
type Stats struct {
	Buffers uint64 // frames the producer sent
	Damaged uint64 // of those, frames that carried damage regions
	Copied  uint64 // pixels copied by Capture
	Lent    uint64 // frames Capture handed out without a copy (the producer's buffer itself)
}

// Stats reads the counters.
func (c *Capturer) Stats() Stats {
	if c.p == nil {
		return Stats{}
	}
	var b, d, px, l C.uint64_t
	C.dpw_stats(c.p, &b, &d, &px, &l)
	return Stats{Buffers: uint64(b), Damaged: uint64(d), Copied: uint64(px), Lent: uint64(l)}
}

// Timing says when the frame the last Capture returned reached this process.
func (c *Capturer) Timing() Timing {
	if c.p == nil {
		return Timing{}
	}
	var t C.struct_dpw_timing
	C.dpw_timing(c.p, &t)
	tm := Timing{Batch: int(t.batch), PTS: -1}
	if t.arrived_real != 0 {
		tm.Arrived = time.Unix(0, int64(t.arrived_real))
		tm.ArrivedMono = time.Duration(t.arrived_mono)
	}
	if t.pts >= 0 {
		tm.PTS = time.Duration(t.pts)
	}
	return tm
}

// Close stops the stream and disconnects. It is idempotent.
func (c *Capturer) Close() error {
	c.once.Do(func() {
		c.notify.Do(func() {}) // no notifier from now on
		if c.stopNotify != nil {
			c.stopNotify()
			<-c.notifyDone
		}
		if c.p != nil {
			C.dpw_close(c.p)
			c.p = nil
			c.frame = screen.Frame{}
		}
		c.ev.Close()
	})
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
