package mutter

import (
	"fmt"
	"sync"

	"github.com/deskport/deskport/input"
)

// evdevButton is the Linux BTN_* code of each input.Button.
var evdevButton = [...]int32{input.ButtonLeft: 0x110, input.ButtonRight: 0x111, input.ButtonMiddle: 0x112, input.ButtonBack: 0x113, input.ButtonForward: 0x114}

// maxWheelNotches bounds the wheel clicks one event may turn into.
const maxWheelNotches = 50

// smoothPerNotch is the smooth-scroll distance of one wheel notch: libinput's and Mutter's
// 10 units per click, so a smooth delta scrolls as far as the same fraction of a notch would.
const smoothPerNotch = 10.0

// Axis flags of NotifyPointerAxis (Mutter's MetaRemoteDesktopNotifyAxisFlags).
const axisSourceWheel = 1 << 1

// Injector performs a viewer's input on the session's virtual keyboard and pointer: keys by
// evdev code (position, the host's layout decides the character), text by keysym, the pointer
// in the recorded monitor's pixels, buttons, and the wheel in whole clicks or smoothly. It
// keeps a record of what it pressed so that release-all leaves nothing held. Its methods are
// safe for concurrent use; closing it does not close the Session.
type Injector struct {
	s *Session

	mu      sync.Mutex
	keys    map[uint16]bool // evdev codes held
	buttons [len(evdevButton)]bool
	closed  bool
}

var _ input.Injector = (*Injector)(nil)

// Injector returns an injector on the session's devices.
func (s *Session) Injector() *Injector {
	return &Injector{s: s, keys: make(map[uint16]bool)}
}

// warmUp sends a pointer nudge and a modifier press and release. On a headless seat Mutter
// drops the first event of each virtual device it just created (measured with mutter 43.8:
// without this the viewer's first key never reaches the client). The nudge is relative, one
// pixel and back, so the pointer of a real desktop does not jump when a viewer connects.
func (s *Session) warmUp() error {
	const shiftLeft = 42
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"NotifyPointerMotionRelative", []any{1.0, 0.0}},
		{"NotifyPointerMotionRelative", []any{-1.0, 0.0}},
		{"NotifyKeyboardKeycode", []any{uint32(shiftLeft), true}},
		{"NotifyKeyboardKeycode", []any{uint32(shiftLeft), false}},
	} {
		if err := s.call(c.method, c.args...); err != nil {
			return err
		}
	}
	return nil
}

// Inject performs one event (see input.Injector for the units; TypePointerAbs is in the
// recorded monitor's pixels, so the input.Server's Rect must be 0, 0 and the frame's size).
func (x *Injector) Inject(e input.Event) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return input.ErrClosed
	}
	s := x.s
	switch e.Type {
	case input.TypePointerAbs:
		return s.call("NotifyPointerMotionAbsolute", string(s.pointerStream()), float64(e.X), float64(e.Y))
	case input.TypePointerRel:
		return s.call("NotifyPointerMotionRelative", float64(e.DX), float64(e.DY))
	case input.TypeButton:
		if !e.Button.Valid() {
			return fmt.Errorf("%w: button %d", input.ErrInvalid, e.Button)
		}
		x.buttons[e.Button] = e.Down
		return s.call("NotifyPointerButton", evdevButton[e.Button], e.Down)
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
		return s.call("NotifyKeyboardKeycode", uint32(code), e.Down)
	case input.TypeText:
		return x.text(e.Text)
	case input.TypeReleaseAll:
		return x.releaseAll()
	}
	return nil
}

// wheel sends whole notches as discrete clicks (what a mouse wheel does, and what every client
// scrolls by) and anything finer as a smooth scroll.
func (x *Injector) wheel(dx, dy int) error {
	for axis, d := range [2]int{dy, dx} { // Mutter's axis 0 is vertical, 1 horizontal
		switch {
		case d == 0:
		case d%input.WheelNotch == 0:
			n := min(max(d/input.WheelNotch, -maxWheelNotches), maxWheelNotches)
			if err := x.s.call("NotifyPointerAxisDiscrete", uint32(axis), int32(n)); err != nil {
				return err
			}
		default:
			v := float64(d) * smoothPerNotch / input.WheelNotch
			ddx, ddy := 0.0, v
			if axis == 1 {
				ddx, ddy = v, 0
			}
			if err := x.s.call("NotifyPointerAxis", ddx, ddy, uint32(axisSourceWheel)); err != nil {
				return err
			}
		}
	}
	return nil
}

// text types s by keysym. Mutter finds the key (and the Shift or AltGr level) that types each
// keysym in the current layout; a character the layout lacks is dropped by Mutter (it logs "No
// keycode found for keyval"), because its virtual keyboard cannot change the keymap. Modifiers
// the viewer holds are lifted meanwhile so they do not change what is typed, then pressed again.
func (x *Injector) text(s string) error {
	var lifted []uint16
	for _, c := range input.Codes() {
		if code := c.Evdev(); c.Modifier() && x.keys[code] {
			if err := x.s.call("NotifyKeyboardKeycode", uint32(code), false); err != nil {
				return err
			}
			lifted = append(lifted, code)
		}
	}
	var err error
	for _, r := range s {
		ks := Keysym(r)
		if err = x.s.call("NotifyKeyboardKeysym", ks, true); err != nil {
			break
		}
		if err = x.s.call("NotifyKeyboardKeysym", ks, false); err != nil {
			break
		}
	}
	for _, code := range lifted {
		if e := x.s.call("NotifyKeyboardKeycode", uint32(code), true); err == nil {
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
		if e := x.s.call("NotifyKeyboardKeycode", uint32(code), false); err == nil {
			err = e
		}
		delete(x.keys, code)
	}
	for b, down := range x.buttons {
		if down {
			if e := x.s.call("NotifyPointerButton", evdevButton[b], false); err == nil {
				err = e
			}
			x.buttons[b] = false
		}
	}
	return err
}

// Close releases everything held. It is idempotent and leaves the Session open.
func (x *Injector) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	err := x.releaseAll()
	if err == ErrClosed {
		err = nil
	}
	return err
}
