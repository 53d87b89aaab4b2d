package portal

import (
	"fmt"
	"sync"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/screen/mutter"
)

// evdevButton is the Linux BTN_* code of each input.Button.
var evdevButton = [...]int32{input.ButtonLeft: 0x110, input.ButtonRight: 0x111, input.ButtonMiddle: 0x112, input.ButtonBack: 0x113, input.ButtonForward: 0x114}

// maxWheelNotches bounds the wheel clicks one event may turn into.
const maxWheelNotches = 50

// smoothPerNotch is the smooth-scroll distance of one wheel notch (libinput's 10 units a
// click, which the portal's GNOME and KDE backends pass on).
const smoothPerNotch = 10.0

// Key and button states of the portal's Notify calls.
const (
	released = uint32(0)
	pressed  = uint32(1)
)

func state(down bool) uint32 {
	if down {
		return pressed
	}
	return released
}

// Injector performs a viewer's input through the portal's RemoteDesktop session: keys by evdev
// code, text by keysym, the pointer in the stream's pixels, buttons and the wheel. It keeps a
// record of what it pressed so that release-all leaves nothing held. Its methods are safe for
// concurrent use; closing it does not close the Session.
type Injector struct {
	s *Session

	mu      sync.Mutex
	keys    map[uint16]bool // evdev codes held
	buttons [len(evdevButton)]bool
	closed  bool
}

var _ input.Injector = (*Injector)(nil)

// Injector returns an injector on the session's devices, or why there is none: ErrNoInput
// (a portal without RemoteDesktop) or ErrInputDenied (the person allowed viewing only).
func (s *Session) Injector() (*Injector, error) {
	if !s.remote {
		return nil, s.NoInput()
	}
	return &Injector{s: s, keys: make(map[uint16]bool)}, nil
}

// Inject performs one event (see input.Injector for the units; TypePointerAbs is in the
// stream's pixels, so the input.Server's Rect must be 0, 0 and the frame's size).
func (x *Injector) Inject(e input.Event) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return input.ErrClosed
	}
	s := x.s
	switch e.Type {
	case input.TypePointerAbs:
		return s.notify("NotifyPointerMotionAbsolute", s.node, float64(e.X), float64(e.Y))
	case input.TypePointerRel:
		return s.notify("NotifyPointerMotion", float64(e.DX), float64(e.DY))
	case input.TypeButton:
		if !e.Button.Valid() {
			return fmt.Errorf("%w: button %d", input.ErrInvalid, e.Button)
		}
		x.buttons[e.Button] = e.Down
		return s.notify("NotifyPointerButton", evdevButton[e.Button], state(e.Down))
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
		return s.notify("NotifyKeyboardKeycode", int32(code), state(e.Down))
	case input.TypeText:
		return x.text(e.Text)
	case input.TypeReleaseAll:
		return x.releaseAll()
	}
	return nil
}

// wheel sends whole notches as discrete steps and anything finer as a smooth scroll.
func (x *Injector) wheel(dx, dy int) error {
	for axis, d := range [2]int{dy, dx} { // the portal's axis 0 is vertical, 1 horizontal
		switch {
		case d == 0:
		case d%input.WheelNotch == 0:
			n := min(max(d/input.WheelNotch, -maxWheelNotches), maxWheelNotches)
			if err := x.s.notify("NotifyPointerAxisDiscrete", uint32(axis), int32(n)); err != nil {
				return err
			}
		default:
			v := float64(d) * smoothPerNotch / input.WheelNotch
			ddx, ddy := 0.0, v
			if axis == 1 {
				ddx, ddy = v, 0
			}
			if err := x.s.notifyOpts("NotifyPointerAxis", finish, ddx, ddy); err != nil {
				return err
			}
		}
	}
	return nil
}

// text types s by keysym; the compositor finds the key and level in the current layout.
// Modifiers the viewer holds are lifted meanwhile, then pressed again.
func (x *Injector) text(s string) error {
	var lifted []uint16
	for _, c := range input.Codes() {
		if code := c.Evdev(); c.Modifier() && x.keys[code] {
			if err := x.s.notify("NotifyKeyboardKeycode", int32(code), released); err != nil {
				return err
			}
			lifted = append(lifted, code)
		}
	}
	var err error
	for _, r := range s {
		ks := int32(mutter.Keysym(r))
		if err = x.s.notify("NotifyKeyboardKeysym", ks, pressed); err != nil {
			break
		}
		if err = x.s.notify("NotifyKeyboardKeysym", ks, released); err != nil {
			break
		}
	}
	for _, code := range lifted {
		if e := x.s.notify("NotifyKeyboardKeycode", int32(code), pressed); err == nil {
			err = e
		}
	}
	return err
}

func (x *Injector) releaseAll() error {
	var err error
	for code := range x.keys {
		if e := x.s.notify("NotifyKeyboardKeycode", int32(code), released); err == nil {
			err = e
		}
		delete(x.keys, code)
	}
	for b, down := range x.buttons {
		if down {
			if e := x.s.notify("NotifyPointerButton", evdevButton[b], released); err == nil {
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
