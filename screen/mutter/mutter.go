// Package mutter shares a GNOME desktop on Wayland the way gnome-remote-desktop does: through
// Mutter's private org.gnome.Mutter.ScreenCast and org.gnome.Mutter.RemoteDesktop D-Bus APIs on
// the session bus. One Session is one remote-desktop session with a screen-cast stream of each
// monitor linked to it, so the pointer lands on the monitor the viewer sees; its frames arrive over PipeWire
// (screen/pipewire) and its input goes to virtual devices Mutter creates for the session. No
// consent dialog and no restore token are involved: the APIs trust the session bus, so the host
// must run as the logged-in user (or inside a headless GNOME session it owns; see Headless).
//
// The D-Bus side is pure Go (godbus); the capture needs cgo and libpipewire (screen/pipewire).
// See docs/wayland.md for what works, what was measured and what is missing.
package mutter

import (
	"errors"
	"log/slog"
	"time"
)

// D-Bus names of Mutter's APIs.
const (
	screenCastName    = "org.gnome.Mutter.ScreenCast"
	screenCastPath    = "/org/gnome/Mutter/ScreenCast"
	remoteDesktopName = "org.gnome.Mutter.RemoteDesktop"
	remoteDesktopPath = "/org/gnome/Mutter/RemoteDesktop"
	rdSessionIface    = "org.gnome.Mutter.RemoteDesktop.Session"
	scSessionIface    = "org.gnome.Mutter.ScreenCast.Session"
	scStreamIface     = "org.gnome.Mutter.ScreenCast.Stream"
)

// Cursor modes of RecordMonitor.
const (
	cursorHidden   = 0
	cursorEmbedded = 1
	cursorMetadata = 2
)

// Config says which bus and which monitor.
type Config struct {
	// Bus is the D-Bus address of the GNOME session bus; "" means $DBUS_SESSION_BUS_ADDRESS.
	Bus string
	// RuntimeDir is where the PipeWire socket lives; "" means $XDG_RUNTIME_DIR.
	RuntimeDir string
	// Connector names the default monitor ("Meta-0", "HDMI-1"); "" means the primary one. The
	// session records every monitor (Session.CapturerFor chooses).
	Connector string
	// Cursor draws the pointer into the frames (Mutter's embedded cursor mode).
	Cursor bool
	// MaxFPS caps the frames a second Mutter sends a capture (pipewire.Config.MaxFPS); zero
	// takes the monitor's refresh rate.
	MaxFPS int
	// Timeout bounds the session's set-up: D-Bus calls, the stream's announcement and its first
	// frame. Zero means 10 s.
	Timeout time.Duration
	// Logger receives the session's set-up and end; nil discards them.
	Logger *slog.Logger
}

var (
	// ErrNotAvailable means the session bus has no Mutter ScreenCast/RemoteDesktop service:
	// this is not a GNOME session (or Mutter is too old or was built without remote desktop).
	ErrNotAvailable = errors.New("mutter: org.gnome.Mutter.ScreenCast is not on the session bus; this is not a GNOME (Mutter) session: use --backend x11 with an X display, or start a headless one with --virtual-display WxH --backend mutter")
	// ErrNoMonitor means a monitor index the session does not have.
	ErrNoMonitor = errors.New("mutter: no such monitor")
	// ErrClosed is returned after Close, or after Mutter closed the session.
	ErrClosed = errors.New("mutter: the remote desktop session is closed")
)
