// Package xtest injects a viewer's input into an X11 display with the XTest extension: one
// connection for the injector's life, keys by evdev keycode (position, not character), text by
// keysym with a spare keycode remapped for characters the host's keymap lacks, and a record of
// everything pressed so that release-all leaves nothing held.
//
// It needs Linux and cgo (libX11, libXtst); without them Open returns an error wrapping
// input.ErrUnsupported.
package xtest

import (
	"errors"
	"log/slog"
)

// Config selects the display. The zero value injects into $DISPLAY.
type Config struct {
	// Display is the X display, like ":0"; "" means $DISPLAY.
	Display string
	// Logger receives set-up details and keymap changes at Debug; nil discards them.
	Logger *slog.Logger
}

var (
	// ErrNoXTest means the X server lacks the XTEST extension (Xvfb and Xorg have it unless
	// started with -extension XTEST).
	ErrNoXTest = errors.New("xtest: the X server has no XTEST extension; start it without \"-extension XTEST\"")
	// ErrConnectionLost means the X server went away; open a new injector once it is back.
	ErrConnectionLost = errors.New("xtest: connection to the X server lost; is it still running?")
	// ErrNoSpareKeycode means a character is in no key of the keymap and every keycode is
	// taken, so there is none to remap for it.
	ErrNoSpareKeycode = errors.New("xtest: no spare keycode to type a character the keymap lacks")
)
