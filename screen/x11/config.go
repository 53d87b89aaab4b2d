// Package x11 captures an X11 display the fast way: one connection and one MIT-SHM image for
// the capturer's whole life, XDamage to skip unchanged frames, and the XFixes cursor image
// blended in. See docs/capture.md.
//
// It needs Linux and cgo; without them Open returns screen.ErrUnsupported, so the rest of
// deskport still builds with CGO_ENABLED=0.
package x11

import (
	"errors"
	"fmt"
	"log/slog"
)

// AllMonitors as Config.Monitor captures the whole screen, every monitor.
const AllMonitors = -1

// Config selects what to capture. The zero value captures monitor 0 of $DISPLAY without the
// cursor.
type Config struct {
	// Display is the X display, like ":0"; "" means $DISPLAY.
	Display string
	// Monitor is the index of the monitor to capture, as Monitors lists them, or AllMonitors.
	Monitor int
	// Cursor draws the mouse pointer into the frames; a pointer move then counts as a change.
	Cursor bool
	// DisableSHM captures with XGetImage instead of shared memory, as when the server cannot
	// attach our memory (remote or in another container). For tests and comparisons.
	DisableSHM bool
	// Logger receives the capture set-up and fallbacks; nil discards them.
	Logger *slog.Logger
}

// Validate refuses monitor indexes below AllMonitors.
func (c *Config) Validate() error {
	if c.Monitor < AllMonitors {
		return fmt.Errorf("x11: monitor %d: use %d for the whole screen or 0 and up for one monitor", c.Monitor, AllMonitors)
	}
	return nil
}

var (
	// ErrClosed is returned by Capture after Close.
	ErrClosed = errors.New("x11: capturer is closed")
	// ErrNoMonitor means Config.Monitor names a monitor the display does not have (any more).
	ErrNoMonitor = errors.New("x11: no such monitor")
	// ErrConnectionLost means the X server went away (it exited or was restarted); open a new
	// Capturer once it is back.
	ErrConnectionLost = errors.New("x11: connection to the X server lost; is it still running?")
	// ErrNoDisplay means there is no X display to connect to.
	ErrNoDisplay = errors.New("x11: no X display")
)

var errNoDisplay = fmt.Errorf("%w: DISPLAY is not set; run inside an X session, set DISPLAY, or for a headless server use --virtual-display 1280x720", ErrNoDisplay)

func openError(display string) error {
	return fmt.Errorf("%w: cannot open display %s: is DISPLAY right and X running (and may this user connect: XAUTHORITY)? For a headless server use --virtual-display 1280x720", ErrNoDisplay, display)
}
