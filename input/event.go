package input

import (
	"math"
	"strconv"
)

// Type is an event's type byte. Numbers are wire values and never change meaning; a receiver
// skips types it does not know.
type Type uint8

// Event types.
const (
	TypePointerAbs Type = 1 // pointer to a position normalised to the captured screen
	TypePointerRel Type = 2 // pointer moved by pixels (pointer lock)
	TypeButton     Type = 3 // a mouse button went down or up
	TypeWheel      Type = 4 // wheel turned, in 1/120 notch units
	TypeKey        Type = 5 // a physical key went down or up
	TypeText       Type = 6 // composed characters (IME, dead keys, layouts the host lacks)
	TypeReleaseAll Type = 7 // release every key and button (the viewer lost focus)
	TypeHeartbeat  Type = 8 // the viewer is alive and holds this many keys and buttons
)

var typeNames = [...]string{"invalid", "pointer-abs", "pointer-rel", "button", "wheel", "key", "text", "release-all", "heartbeat"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Button is a mouse button. Numbers are wire values (they match DOM MouseEvent.button + 1).
type Button uint8

// Buttons.
const (
	ButtonLeft    Button = 1
	ButtonMiddle  Button = 2
	ButtonRight   Button = 3
	ButtonBack    Button = 4
	ButtonForward Button = 5

	maxButton = ButtonForward
)

// Valid reports whether b is one of the five buttons.
func (b Button) Valid() bool { return b >= ButtonLeft && b <= maxButton }

// NormMax is the normalised coordinate of the last pixel column or row of the captured screen.
const NormMax = 65535

// WheelNotch is one notch of a wheel in TypeWheel units (the Windows WHEEL_DELTA).
const WheelNotch = 120

// Event is one decoded input event. Which fields mean something depends on Type:
//
//   - TypePointerAbs: X, Y. As decoded they are normalised, 0..NormMax across the captured
//     screen; Server maps them to root-window pixels before calling Injector.Inject.
//   - TypePointerRel: DX, DY in pixels.
//   - TypeButton: Button, Down.
//   - TypeWheel: DX, DY in 1/120 notch (positive DY scrolls down, positive DX right, like DOM
//     WheelEvent deltas).
//   - TypeKey: Code, Down.
//   - TypeText: Text, valid UTF-8 without control characters.
//   - TypeHeartbeat: HeldKeys, HeldButtons (bit b-1 set for a held Button b).
type Event struct {
	Type        Type
	X, Y        int
	DX, DY      int
	Button      Button
	Down        bool
	Code        Code
	Text        string
	HeldKeys    int
	HeldButtons uint8
}

// Normalise turns a fraction of the captured screen (0 = first pixel, 1 = last) into a wire
// coordinate, clamped to 0..NormMax.
func Normalise(f float64) int {
	if !(f > 0) { // also NaN
		return 0
	}
	if f >= 1 {
		return NormMax
	}
	return int(math.Round(f * NormMax))
}

// PointerTo moves the pointer to a fraction (0..1) of the captured screen.
func PointerTo(fx, fy float64) Event {
	return Event{Type: TypePointerAbs, X: Normalise(fx), Y: Normalise(fy)}
}

// PointerBy moves the pointer by pixels, as under pointer lock.
func PointerBy(dx, dy int) Event { return Event{Type: TypePointerRel, DX: dx, DY: dy} }

// ButtonEvent presses or releases a mouse button.
func ButtonEvent(b Button, down bool) Event { return Event{Type: TypeButton, Button: b, Down: down} }

// WheelBy turns the wheel by dx, dy in 1/120 notch (WheelNotch is one notch).
func WheelBy(dx, dy int) Event { return Event{Type: TypeWheel, DX: dx, DY: dy} }

// KeyEvent presses or releases a physical key.
func KeyEvent(c Code, down bool) Event { return Event{Type: TypeKey, Code: c, Down: down} }

// TextEvent types composed characters.
func TextEvent(s string) Event { return Event{Type: TypeText, Text: s} }

// ReleaseAllEvent releases every key and button the stream holds.
func ReleaseAllEvent() Event { return Event{Type: TypeReleaseAll} }

// HeartbeatEvent tells the host the viewer is alive and how many keys and which buttons it
// believes are held.
func HeartbeatEvent(heldKeys int, heldButtons uint8) Event {
	return Event{Type: TypeHeartbeat, HeldKeys: heldKeys, HeldButtons: heldButtons}
}

// MapToRect maps a normalised coordinate pair into the rectangle x, y, w, h (root-window
// pixels), clamped inside it: 0 is the first pixel and NormMax the last.
func MapToRect(nx, ny, x, y, w, h int) (int, int) {
	return x + scale(nx, w), y + scale(ny, h)
}

func scale(n, size int) int {
	if size <= 1 {
		return 0
	}
	n = min(max(n, 0), NormMax)
	return (n*(size-1) + NormMax/2) / NormMax
}
