package portal

import (
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/screen/internal/vinput"
)

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
// code, text by keysym, the pointer in the stream's pixels (so the input.Server's Rect must be
// 0, 0 and the frame's size), buttons and the wheel. It keeps a record of what it pressed so
// that release-all leaves nothing held. Its methods are safe for concurrent use; closing it
// does not close the Session.
type Injector struct{ *vinput.Injector }

var _ input.Injector = (*Injector)(nil)

// Injector returns an injector on the session's devices, or why there is none: ErrNoInput
// (a portal without RemoteDesktop) or ErrInputDenied (the person allowed viewing only).
func (s *Session) Injector() (*Injector, error) {
	if !s.remote {
		return nil, s.NoInput()
	}
	return &Injector{vinput.New(device{s}, ErrClosed)}, nil
}

// device is the session's devices as the portal's RemoteDesktop calls them. Each call waits
// for its reply (Session.notify says why).
type device struct{ s *Session }

func (d device) Key(code uint16, down bool) error {
	return d.s.notify("NotifyKeyboardKeycode", int32(code), state(down))
}
func (d device) Keysym(ks uint32, down bool) error {
	return d.s.notify("NotifyKeyboardKeysym", int32(ks), state(down))
}
func (d device) Button(code int32, down bool) error {
	return d.s.notify("NotifyPointerButton", code, state(down))
}
func (d device) MotionAbs(x, y float64) error {
	return d.s.notify("NotifyPointerMotionAbsolute", d.s.node, x, y)
}
func (d device) Motion(dx, dy float64) error {
	return d.s.notify("NotifyPointerMotion", dx, dy)
}
func (d device) AxisDiscrete(axis uint32, steps int32) error {
	return d.s.notify("NotifyPointerAxisDiscrete", axis, steps) // the portal's axis 0 is vertical
}
func (d device) Axis(dx, dy float64) error {
	return d.s.notifyOpts("NotifyPointerAxis", finish, dx, dy)
}
