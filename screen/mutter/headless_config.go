package mutter

import (
	"errors"
	"log/slog"
	"time"
)

// HeadlessConfig sizes a headless GNOME session.
type HeadlessConfig struct {
	// Width and Height are the virtual monitor's size; zero means 1280x720.
	Width, Height int
	// Extra are the sizes (width, height) of more virtual monitors, which Mutter places to the
	// right of the first.
	Extra [][2]int
	// Refresh is the virtual monitors' refresh rate in Hz (`--virtual-monitor WxH@R`); zero
	// keeps Mutter's 60. Clients that draw on frame callbacks draw at this rate, and each of
	// Mutter's frames costs it a software paint: a rate above the rate the host sends (its
	// --fps) is compositing nobody sees.
	Refresh int
	// Timeout bounds the start; zero means 30 s.
	Timeout time.Duration
	// Logger receives the programs' messages at Debug; nil discards them.
	Logger *slog.Logger
}

// ErrNotInstalled means a program the headless session needs is missing.
var ErrNotInstalled = errors.New("mutter: a program of the headless GNOME session is not installed (Debian: apt-get install mutter pipewire wireplumber dbus-daemon)")
