package mutter

import (
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/screen/internal/vinput"
)

// Axis flags of NotifyPointerAxis (Mutter's MetaRemoteDesktopNotifyAxisFlags).
const axisSourceWheel = 1 << 1

// Injector performs a viewer's input on the session's virtual keyboard and pointer: keys by
// evdev code (position, the host's layout decides the character), text by keysym, the pointer
// in the recorded monitor's pixels (so the input.Server's Rect must be 0, 0 and the frame's
// size), buttons, and the wheel in whole clicks or smoothly. It keeps a record of what it
// pressed so that release-all leaves nothing held. Its methods are safe for concurrent use;
// closing it does not close the Session.
type Injector struct{ *vinput.Injector }

var _ input.Injector = (*Injector)(nil)

// Injector returns an injector on the session's devices.
func (s *Session) Injector() *Injector {
	return &Injector{vinput.New(device{s}, ErrClosed)}
}

// Keysym is the X keysym that types r (vinput.Keysym).
func Keysym(r rune) uint32 { return vinput.Keysym(r) }

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

// device is the session's virtual devices as Mutter's RemoteDesktop.Session calls them. Calls
// are sent without waiting for the reply (Session.call).
type device struct{ s *Session }

func (d device) Key(code uint16, down bool) error {
	return d.s.call("NotifyKeyboardKeycode", uint32(code), down)
}
func (d device) Keysym(ks uint32, down bool) error {
	return d.s.call("NotifyKeyboardKeysym", ks, down)
}
func (d device) Button(code int32, down bool) error {
	return d.s.call("NotifyPointerButton", code, down)
}
func (d device) MotionAbs(x, y float64) error {
	return d.s.call("NotifyPointerMotionAbsolute", string(d.s.pointerStream()), x, y)
}
func (d device) Motion(dx, dy float64) error {
	return d.s.call("NotifyPointerMotionRelative", dx, dy)
}
func (d device) AxisDiscrete(axis uint32, steps int32) error {
	return d.s.call("NotifyPointerAxisDiscrete", axis, steps) // Mutter's axis 0 is vertical
}
func (d device) Axis(dx, dy float64) error {
	return d.s.call("NotifyPointerAxis", dx, dy, uint32(axisSourceWheel))
}
