// Package portal shares a Wayland desktop through the desktop portal (xdg-desktop-portal): the
// org.freedesktop.portal.ScreenCast interface, and org.freedesktop.portal.RemoteDesktop where
// the desktop offers it, on the session bus. It is the backend for the compositors that have
// no private API deskport speaks: KDE Plasma, wlroots compositors (sway, Hyprland, river)
// through xdg-desktop-portal-wlr, and GNOME when Mutter's own API is not reachable.
//
// Unlike Mutter's API the portal asks the person at the machine before it shares the screen
// (a dialog, or a chooser). A session started with persist_mode 2 returns a restore token; the
// next session that passes it is started without asking. Tokens are single-use: every Start
// returns a new one, which replaces the old (TokenFile keeps it on disk for the host).
//
// The D-Bus side is pure Go (godbus); the capture is screen/pipewire on the descriptor the
// portal's OpenPipeWireRemote returns. See docs/wayland.md.
package portal

import (
	"errors"
	"log/slog"
	"time"
)

// D-Bus names of the portal.
const (
	desktopName    = "org.freedesktop.portal.Desktop"
	desktopPath    = "/org/freedesktop/portal/desktop"
	screenCastIf   = "org.freedesktop.portal.ScreenCast"
	remoteDeskIf   = "org.freedesktop.portal.RemoteDesktop"
	requestIf      = "org.freedesktop.portal.Request"
	sessionIf      = "org.freedesktop.portal.Session"
	propertiesIf   = "org.freedesktop.DBus.Properties"
	responseSignal = requestIf + ".Response"
	closedSignal   = sessionIf + ".Closed"
)

// Source types, cursor modes, device types and persist modes of the portal's API.
const (
	sourceMonitor   = 1
	cursorHidden    = 1
	cursorEmbedded  = 2
	deviceKeyboard  = 1
	devicePointer   = 2
	persistUntilRev = 2 // persist until the user revokes the permission
)

// Responses of a Request.
const (
	responseSuccess   = 0
	responseCancelled = 1
)

// Config says which bus and what to ask the portal for.
type Config struct {
	// Bus is the D-Bus address of the session bus; "" means $DBUS_SESSION_BUS_ADDRESS.
	Bus string
	// RestoreToken is the token a previous session returned (Session.RestoreToken): passed to
	// the portal, it starts the session without asking when the portal still honours it.
	RestoreToken string
	// Input asks for the portal's RemoteDesktop (keyboard and pointer) when the portal offers
	// it; the screen cast is then part of the remote-desktop session. Without RemoteDesktop
	// the session is view-only (Session.CanInput).
	Input bool
	// Cursor draws the pointer into the frames (the portal's embedded cursor mode) when the
	// portal offers it.
	Cursor bool
	// Timeout bounds each D-Bus call, the stream's first frame and a Start that needs no
	// person; zero means 10 s.
	Timeout time.Duration
	// PromptAfter is how long Start may take before the session counts as waiting for a
	// person (a dialog on the machine's screen): OnPrompt is called once then. Zero means 2 s.
	PromptAfter time.Duration
	// OnPrompt is called (once, from Open's goroutine) when the portal has not answered
	// within PromptAfter: someone must click Share on this machine's screen. remembered says
	// whether the portal will remember the choice (a restore token: ScreenCast version 4, or
	// RemoteDesktop version 2 for a session with input). Nil logs Prompt(remembered).
	OnPrompt func(remembered bool)
	// ConsentTimeout bounds how long Open waits for that person; zero means 5 minutes.
	ConsentTimeout time.Duration
	// Logger receives the session's set-up and end; nil discards them.
	Logger *slog.Logger
}

// PromptMessage is what the host says when the portal waits for a person.
const PromptMessage = "the desktop is asking for permission to share the screen: click Share on this machine's screen"

// Prompt is PromptMessage with whether the desktop will remember the choice.
func Prompt(remembered bool) string {
	if remembered {
		return PromptMessage + "; the choice is remembered"
	}
	return PromptMessage + " (this desktop's portal cannot remember a choice that includes remote control: it asks at every start of the host)"
}

var (
	// ErrNotAvailable means the session bus has no desktop portal with ScreenCast.
	ErrNotAvailable = errors.New("portal: org.freedesktop.portal.Desktop with ScreenCast is not on the session bus; install and start xdg-desktop-portal with the backend for this desktop (xdg-desktop-portal-kde, -wlr, -gnome), or use --backend x11 or mutter")
	// ErrDeclined means the person at the machine refused to share the screen.
	ErrDeclined = errors.New("portal: the person at this machine declined to share the screen (the portal's dialog was cancelled); start the host again and click Share")
	// ErrNoConsent means nobody answered the portal's dialog in time.
	ErrNoConsent = errors.New("portal: nobody answered the desktop's screen-sharing dialog in time; start the host again and click Share on this machine's screen")
	// ErrClosed is returned after Close, or after the portal closed the session.
	ErrClosed = errors.New("portal: the screen-cast session is closed")
	// ErrNoInput means the portal has no RemoteDesktop (xdg-desktop-portal-wlr): the screen
	// can be viewed but not controlled.
	ErrNoInput = errors.New("portal: this desktop's portal offers no remote control (no org.freedesktop.portal.RemoteDesktop, e.g. xdg-desktop-portal-wlr): the screen is shared view-only")
	// ErrInputDenied means the person at the machine allowed viewing only (GNOME's dialog has
	// "Allow remote interaction" off unless it is turned on).
	ErrInputDenied = errors.New("portal: the person at this machine allowed viewing only (remote interaction was left off in the desktop's sharing dialog): the screen is shared view-only; restart the host and allow remote interaction to control it")
)
