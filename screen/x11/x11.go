//go:build linux && cgo

package x11

/*
#cgo pkg-config: x11 xext xdamage xfixes xrandr xinerama
#include <stdlib.h>
#include "capture.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"unsafe"

	"github.com/deskport/deskport/internal/xlib"
	"github.com/deskport/deskport/screen"
)

var initThreads sync.Once

// Open connects to the display and prepares the capture: one connection and one shared
// buffer, kept until Close.
func Open(cfg Config) (*Capturer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	display := cfg.Display
	if display == "" {
		display = os.Getenv("DISPLAY")
		if display == "" {
			return nil, errNoDisplay
		}
	}
	// Calls for one display may come from different OS threads, one at a time.
	initThreads.Do(func() { C.XInitThreads() })

	c := &Capturer{cfg: cfg, log: log, display: display}
	c.c = (*C.dp_cap)(C.calloc(1, C.sizeof_dp_cap))
	name := C.CString(display)
	defer C.free(unsafe.Pointer(name))
	// dp_open and dp_close take the process's Xlib lock (internal/xlib): libXext's list of
	// connections is not safe to change from two threads at once.
	var rc C.int
	xlib.Do(func() { rc = C.dp_open(c.c, name, C.int(cfg.Monitor), cbool(cfg.Cursor), cbool(cfg.DisableSHM)) })
	if rc != C.DP_OK {
		err := c.error("open", rc)
		xlib.Do(func() { C.dp_close(c.c) })
		C.free(unsafe.Pointer(c.c))
		c.c = nil
		return nil, err
	}
	if c.c.shm_failed != 0 {
		log.Warn("x11: MIT-SHM is not usable (remote or containerised X server?); capturing with XGetImage, which is slower", "display", display)
	}
	if c.c.has_damage == 0 {
		log.Warn("x11: the X server has no DAMAGE extension; every capture grabs the whole screen", "display", display)
	}
	if cfg.Cursor && c.c.has_fixes == 0 {
		log.Warn("x11: the X server has no XFIXES extension; captures show no cursor", "display", display)
	}
	c.update()
	log.Info("x11: capturing", "display", display, "monitor", cfg.Monitor,
		"x", int(c.c.x), "y", int(c.c.y), "width", c.frame.Width, "height", c.frame.Height,
		"shm", c.c.use_shm != 0, "damage", c.c.has_damage != 0, "cursor", cfg.Cursor && c.c.has_fixes != 0)
	return c, nil
}

// Capturer grabs one X display (or one monitor of it). It is not safe for concurrent use:
// one goroutine calls Capture, and Close after the last Capture has returned.
type Capturer struct {
	cfg     Config
	log     *slog.Logger
	display string
	c       *C.dp_cap
	frame   screen.Frame
	once    sync.Once
}

var _ screen.Capturer = (*Capturer)(nil)

// Capture returns the screen. The Frame and its Pix belong to the Capturer and are valid until
// the next Capture. Changed is false when no damage, cursor move or cursor shape change
// happened since the previous Capture; Pix then holds the same picture and no pixels were
// copied. A new Width or Height means the screen (or the monitor) changed size.
func (c *Capturer) Capture() (*screen.Frame, error) {
	if c.c == nil {
		return nil, ErrClosed
	}
	if rc := C.dp_capture(c.c); rc != C.DP_OK {
		return nil, c.error("capture", rc)
	}
	if c.c.realloced != 0 {
		c.update()
		c.log.Info("x11: screen size changed", "display", c.display, "width", c.frame.Width, "height", c.frame.Height)
	}
	c.frame.Changed = c.c.changed != 0
	return &c.frame, nil
}

// Invalidate makes the next Capture grab the whole picture and report it Changed, even if no
// damage arrived: for a consumer that lost the previous frame, or to measure a full grab.
func (c *Capturer) Invalidate() {
	if c.c != nil {
		c.c.dirty = 1
	}
}

// update points the frame at the current image.
func (c *Capturer) update() {
	img := c.c.img
	c.frame.Width, c.frame.Height = int(c.c.w), int(c.c.h)
	c.frame.Stride = int(img.bytes_per_line)
	c.frame.Pix = unsafe.Slice((*byte)(unsafe.Pointer(img.data)), c.frame.Stride*c.frame.Height)
}

// Rect is the captured rectangle in screen coordinates: a monitor's place on the screen, or
// the whole screen. Input coordinates from the viewer map through it.
func (c *Capturer) Rect() (x, y, width, height int) {
	if c.c == nil {
		return 0, 0, 0, 0
	}
	return int(c.c.x), int(c.c.y), int(c.c.w), int(c.c.h)
}

// SHM reports whether capture uses MIT shared memory (false: the slower XGetImage fallback).
func (c *Capturer) SHM() bool { return c.c != nil && c.c.use_shm != 0 }

// Close releases the connection and the shared memory. It is idempotent.
func (c *Capturer) Close() error {
	c.once.Do(func() {
		if c.c != nil {
			xlib.Do(func() { C.dp_close(c.c) })
			C.free(unsafe.Pointer(c.c))
			c.c = nil
			c.frame = screen.Frame{}
		}
	})
	return nil
}

func (c *Capturer) error(op string, rc C.int) error {
	msg := C.GoString(&c.c.msg[0])
	switch rc {
	case C.DP_ERR_OPEN:
		return openError(c.display)
	case C.DP_ERR_FORMAT:
		return fmt.Errorf("x11: %s %s: %s: %w", op, c.display, msg, screen.ErrUnsupported)
	case C.DP_ERR_MONITOR:
		return fmt.Errorf("x11: %s %s: %s: %w", op, c.display, msg, ErrNoMonitor)
	case C.DP_ERR_IO:
		return fmt.Errorf("x11: %s %s: %w", op, c.display, ErrConnectionLost)
	}
	return fmt.Errorf("x11: %s %s: %s", op, c.display, msg)
}

// Monitors lists the outputs of a display ("" means $DISPLAY): RandR monitors, else Xinerama
// screens, else the whole screen as one monitor.
func Monitors(display string) ([]screen.Monitor, error) {
	if display == "" {
		display = os.Getenv("DISPLAY")
		if display == "" {
			return nil, errNoDisplay
		}
	}
	initThreads.Do(func() { C.XInitThreads() })
	name := C.CString(display)
	defer C.free(unsafe.Pointer(name))
	const max = 32
	out := (*[max]C.dp_monitor)(C.calloc(max, C.sizeof_dp_monitor))
	defer C.free(unsafe.Pointer(out))
	var n C.int
	var msg [256]C.char
	var rc C.int
	xlib.Do(func() { rc = C.dp_monitors(name, &out[0], max, &n, &msg[0], C.int(len(msg))) })
	switch rc {
	case C.DP_OK:
	case C.DP_ERR_OPEN:
		return nil, openError(display)
	case C.DP_ERR_IO:
		return nil, fmt.Errorf("x11: monitors of %s: %w", display, ErrConnectionLost)
	default:
		return nil, fmt.Errorf("x11: monitors of %s: %s", display, C.GoString(&msg[0]))
	}
	mons := make([]screen.Monitor, int(n))
	for i := range mons {
		m := &out[i]
		mons[i] = screen.Monitor{
			Index: i, Name: C.GoString(&m.name[0]),
			X: int(m.x), Y: int(m.y), Width: int(m.w), Height: int(m.h),
			Primary: m.primary != 0,
		}
	}
	return mons, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
