package vinput

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/deskport/deskport/input"
)

// log is a Device that writes down every call, in the Mutter/portal method vocabulary.
type log struct {
	calls []string
	err   error // returned by every call when set
}

func (l *log) add(f string, a ...any) error {
	l.calls = append(l.calls, fmt.Sprintf(f, a...))
	return l.err
}
func (l *log) Key(code uint16, down bool) error        { return l.add("key %d %v", code, down) }
func (l *log) Keysym(ks uint32, down bool) error       { return l.add("keysym %#x %v", ks, down) }
func (l *log) Button(code int32, down bool) error      { return l.add("button %#x %v", code, down) }
func (l *log) MotionAbs(x, y float64) error            { return l.add("abs %g %g", x, y) }
func (l *log) Motion(dx, dy float64) error             { return l.add("rel %g %g", dx, dy) }
func (l *log) AxisDiscrete(axis uint32, n int32) error { return l.add("discrete %d %d", axis, n) }
func (l *log) Axis(dx, dy float64) error               { return l.add("smooth %g %g", dx, dy) }

func code(t *testing.T, name string) input.Code {
	t.Helper()
	c, ok := input.ParseCode(name)
	if !ok {
		t.Fatalf("no key %s", name)
	}
	return c
}

func TestTextLiftsHeldModifiers(t *testing.T) {
	dev := &log{}
	x := New(dev, nil)
	events := []input.Event{
		input.KeyEvent(code(t, "ShiftLeft"), true),
		{Type: input.TypeText, Text: "a€\n"},
		input.KeyEvent(code(t, "ShiftLeft"), false),
	}
	for _, e := range events {
		if err := x.Inject(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"key 42 true", "key 42 false",
		"keysym 0x61 true", "keysym 0x61 false", "keysym 0x20ac true", "keysym 0x20ac false",
		"keysym 0xff0d true", "keysym 0xff0d false", "key 42 true", "key 42 false"}
	if !slices.Equal(dev.calls, want) {
		t.Fatalf("calls\n%q\nwant\n%q", dev.calls, want)
	}
}

func TestWheelNotchesAndSmooth(t *testing.T) {
	dev := &log{}
	x := New(dev, nil)
	for _, e := range []input.Event{
		{Type: input.TypeWheel, DY: 2 * input.WheelNotch},
		{Type: input.TypeWheel, DX: -input.WheelNotch / 2},
		{Type: input.TypeWheel, DY: 1000 * input.WheelNotch}, // bounded
	} {
		if err := x.Inject(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"discrete 0 2", fmt.Sprintf("smooth %g 0", -SmoothPerNotch/2), fmt.Sprintf("discrete 0 %d", MaxWheelNotches)}
	if !slices.Equal(dev.calls, want) {
		t.Fatalf("calls %q, want %q", dev.calls, want)
	}
}

func TestReleaseAllAndClose(t *testing.T) {
	dev := &log{}
	x := New(dev, nil)
	for _, e := range []input.Event{
		input.KeyEvent(code(t, "KeyA"), true),
		{Type: input.TypeButton, Button: input.ButtonRight, Down: true},
		{Type: input.TypeButton, Button: input.ButtonLeft, Down: true},
		{Type: input.TypeButton, Button: input.ButtonLeft, Down: false},
	} {
		if err := x.Inject(e); err != nil {
			t.Fatal(err)
		}
	}
	dev.calls = nil
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"key 30 false", "button 0x111 false"}
	if !slices.Equal(dev.calls, want) {
		t.Fatalf("Close released %q, want %q", dev.calls, want)
	}
	if err := x.Inject(input.KeyEvent(code(t, "KeyA"), true)); !errors.Is(err, input.ErrClosed) {
		t.Fatalf("Inject after Close: %v, want input.ErrClosed", err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseIgnoresEndedSession(t *testing.T) {
	gone := errors.New("session ended")
	dev := &log{}
	x := New(dev, gone)
	if err := x.Inject(input.KeyEvent(code(t, "KeyA"), true)); err != nil {
		t.Fatal(err)
	}
	dev.err = fmt.Errorf("wrapped: %w", gone)
	if err := x.Close(); err != nil {
		t.Fatalf("Close on an ended session: %v, want nil", err)
	}
	other := New(&log{err: errors.New("bus broken")}, gone)
	other.keys[30] = true
	if err := other.Close(); err == nil {
		t.Fatal("Close hid an error other than the session's end")
	}
}

func TestInvalidEvents(t *testing.T) {
	x := New(&log{}, nil)
	if err := x.Inject(input.Event{Type: input.TypeButton, Button: 99}); !errors.Is(err, input.ErrInvalid) {
		t.Fatalf("bad button: %v", err)
	}
	if err := x.Inject(input.Event{Type: input.TypeKey}); !errors.Is(err, input.ErrInvalid) {
		t.Fatalf("no key: %v", err)
	}
}

func TestKeysym(t *testing.T) {
	for r, want := range map[rune]uint32{'A': 0x41, 'é': 0xe9, '€': 0x20ac, '\t': 0xff09, 'ж': 0x1000436, '😀': 0x101f600} {
		if got := Keysym(r); got != want {
			t.Errorf("Keysym(%q) = %#x, want %#x", r, got, want)
		}
	}
}
