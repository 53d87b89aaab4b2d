// Package vinput turns a viewer's input events into calls on the virtual keyboard and pointer of
// a Wayland remote-desktop API — Mutter's org.gnome.Mutter.RemoteDesktop and the desktop
// portal's org.freedesktop.portal.RemoteDesktop, whose calls are the same in kind and differ
// only in their D-Bus signatures. Each backend implements Device; Injector keeps what is held
// so that release-all and Close leave nothing pressed, and does the work both share: keys by
// evdev code, text by keysym with held modifiers lifted, wheel notches as discrete steps and
// anything finer as a smooth scroll.
package vinput

import (
	"errors"
	"fmt"
	"sync"

	"github.com/deskport/deskport/input"
)

// Device is one remote-desktop session's virtual devices.
type Device interface {
	// Key presses or releases the key with this evdev code.
	Key(code uint16, down bool) error
	// Keysym presses or releases whatever key types this X keysym in the current layout.
	Keysym(keysym uint32, down bool) error
	// Button presses or releases a pointer button by its Linux BTN_* code.
	Button(code int32, down bool) error
	// MotionAbs moves the pointer to x, y in the shared stream's pixels.
	MotionAbs(x, y float64) error
	// Motion moves the pointer by dx, dy.
	Motion(dx, dy float64) error
	// AxisDiscrete turns the wheel by whole steps; axis 0 is vertical, 1 horizontal.
	AxisDiscrete(axis uint32, steps int32) error
	// Axis scrolls smoothly by dx, dy (libinput units, SmoothPerNotch a notch).
	Axis(dx, dy float64) error
}

// EvdevButton is the Linux BTN_* code of each input.Button.
var EvdevButton = [...]int32{input.ButtonLeft: 0x110, input.ButtonRight: 0x111, input.ButtonMiddle: 0x112, input.ButtonBack: 0x113, input.ButtonForward: 0x114}

// MaxWheelNotches bounds the wheel steps one event may turn into.
const MaxWheelNotches = 50

// SmoothPerNotch is the smooth-scroll distance of one wheel notch: libinput's (and Mutter's,
// and the portal backends') 10 units per click, so a smooth delta scrolls as far as the same
// fraction of a notch would.
const SmoothPerNotch = 10.0

// Injector performs input.Events on a Device. Its methods are safe for concurrent use; closing
// it does not close the Device's session.
type Injector struct {
	dev         Device
	sessionGone error // the Device's error for a closed session; Close ignores it

	mu      sync.Mutex
	keys    map[uint16]bool // evdev codes held
	buttons [len(EvdevButton)]bool
	closed  bool
}

var _ input.Injector = (*Injector)(nil)

// New returns an injector on dev. sessionGone is the error dev returns once its session has
// ended; releasing what is held then has nothing left to release, so Close does not report it.
func New(dev Device, sessionGone error) *Injector {
	return &Injector{dev: dev, sessionGone: sessionGone, keys: make(map[uint16]bool)}
}

// Inject performs one event (see input.Injector for the units; TypePointerAbs is in the
// stream's pixels, so the input.Server's Rect must be 0, 0 and the frame's size).
func (x *Injector) Inject(e input.Event) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return input.ErrClosed
	}
	switch e.Type {
	case input.TypePointerAbs:
		return x.dev.MotionAbs(float64(e.X), float64(e.Y))
	case input.TypePointerRel:
		return x.dev.Motion(float64(e.DX), float64(e.DY))
	case input.TypeButton:
		if !e.Button.Valid() {
			return fmt.Errorf("%w: button %d", input.ErrInvalid, e.Button)
		}
		x.buttons[e.Button] = e.Down
		return x.dev.Button(EvdevButton[e.Button], e.Down)
	case input.TypeWheel:
		return x.wheel(e.DX, e.DY)
	case input.TypeKey:
		code := e.Code.Evdev()
		if code == 0 {
			return fmt.Errorf("%w: key %v", input.ErrInvalid, e.Code)
		}
		x.keys[code] = e.Down
		if !e.Down {
			delete(x.keys, code)
		}
		return x.dev.Key(code, e.Down)
	case input.TypeText:
		return x.text(e.Text)
	case input.TypeReleaseAll:
		return x.releaseAll()
	}
	return nil
}

// wheel sends whole notches as discrete steps (what a mouse wheel does, and what every client
// scrolls by) and anything finer as a smooth scroll.
func (x *Injector) wheel(dx, dy int) error {
	for axis, d := range [2]int{dy, dx} {
		switch {
		case d == 0:
		case d%input.WheelNotch == 0:
			n := min(max(d/input.WheelNotch, -MaxWheelNotches), MaxWheelNotches)
			if err := x.dev.AxisDiscrete(uint32(axis), int32(n)); err != nil {
				return err
			}
		default:
			v := float64(d) * SmoothPerNotch / input.WheelNotch
			ddx, ddy := 0.0, v
			if axis == 1 {
				ddx, ddy = v, 0
			}
			if err := x.dev.Axis(ddx, ddy); err != nil {
				return err
			}
		}
	}
	return nil
}

// text types s by keysym: the compositor finds the key (and the Shift or AltGr level) that
// types each keysym in the current layout. A character the layout lacks is dropped by Mutter
// (it logs "No keycode found for keyval"): its virtual keyboard cannot change the keymap.
// Modifiers the viewer holds are lifted meanwhile so they do not change what is typed, then
// pressed again.
func (x *Injector) text(s string) error {
	var lifted []uint16
	for _, c := range input.Codes() {
		if code := c.Evdev(); c.Modifier() && x.keys[code] {
			if err := x.dev.Key(code, false); err != nil {
				return err
			}
			lifted = append(lifted, code)
		}
	}
	var err error
	for _, r := range s {
		ks := Keysym(r)
		if err = x.dev.Keysym(ks, true); err != nil {
			break
		}
		if err = x.dev.Keysym(ks, false); err != nil {
			break
		}
	}
	for _, code := range lifted {
		if e := x.dev.Key(code, true); err == nil {
			err = e
		}
	}
	return err
}

// Keysym is the X keysym that types r: Latin-1 keysyms equal their code point, a few
// characters have legacy keysyms that keymaps use, and the rest are 0x01000000 + the code
// point (X11 keysymdef.h).
func Keysym(r rune) uint32 {
	switch r {
	case '\n', '\r':
		return 0xff0d // Return
	case '\t':
		return 0xff09 // Tab
	case '€':
		return 0x20ac // EuroSign
	}
	if r >= 0x20 && r <= 0x7e || r >= 0xa0 && r <= 0xff {
		return uint32(r)
	}
	return 0x01000000 + uint32(r)
}

func (x *Injector) releaseAll() error {
	var err error
	for code := range x.keys {
		if e := x.dev.Key(code, false); err == nil {
			err = e
		}
		delete(x.keys, code)
	}
	for b, down := range x.buttons {
		if down {
			if e := x.dev.Button(EvdevButton[b], false); err == nil {
				err = e
			}
			x.buttons[b] = false
		}
	}
	return err
}

// Close releases everything held. It is idempotent and leaves the Device's session open.
func (x *Injector) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	err := x.releaseAll()
	if x.sessionGone != nil && errors.Is(err, x.sessionGone) {
		err = nil
	}
	return err
}
