//go:build linux && cgo

package mutter_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/pipewire"
)

// wlpatternBin is built once by TestMain ("" with the reason in buildErr when it cannot be).
var wlpatternBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "deskport-mutter-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		wlpatternBin, buildErr = wlpattern.Build(dir)
		return m.Run()
	}())
}

// startGNOME starts a headless GNOME session for the test and the wlpattern client in it.
func startGNOME(t *testing.T) (*mutter.Headless, *wlpattern.Proc) {
	t.Helper()
	h := startHeadless(t)
	return h, wlpattern.Start(t, wlpatternBin, h)
}

// startHeadless starts a headless GNOME session for the test.
func startHeadless(t *testing.T) *mutter.Headless {
	t.Helper()
	if buildErr != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", buildErr)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720, Logger: testLogger()})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func openSession(t *testing.T, h *mutter.Headless, cursor bool) *mutter.Session {
	t.Helper()
	s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir(), Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func at(f *screen.Frame, x, y int) pattern.RGB {
	o := y*f.Stride + x*4
	return pattern.RGB{R: f.Pix[o+2], G: f.Pix[o+1], B: f.Pix[o]}
}

// mismatches lists the blocks of f that differ from pattern n, at their centres and near their
// corners.
func mismatches(f *screen.Frame, n int) []string {
	var bad []string
	for row := range pattern.Rows {
		for col := range pattern.Cols {
			want := pattern.Block(n, col, row)
			x0, y0, x1, y1 := pattern.BlockRect(col, row, f.Width, f.Height)
			for _, p := range [][2]int{{(x0 + x1) / 2, (y0 + y1) / 2}, {x0 + 2, y0 + 2}, {x1 - 3, y0 + 2}, {x0 + 2, y1 - 3}, {x1 - 3, y1 - 3}} {
				if got := at(f, p[0], p[1]); got != want {
					bad = append(bad, fmt.Sprintf("block %d,%d at %d,%d: got %v, want %v", col, row, p[0], p[1], got, want))
				}
			}
		}
	}
	return bad
}

// waitPattern captures until the frame shows pattern n, waiting for frames (not sleeping)
// between captures; 20 s is a hang guard.
func waitPattern(t *testing.T, c *pipewire.Capturer, n int) *screen.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		f, err := c.Capture()
		if err != nil {
			t.Fatal(err)
		}
		bad := mismatches(f, n)
		if len(bad) == 0 {
			return f
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("pattern %d never showed (%v): %s", n, err, strings.Join(bad, "; "))
		}
	}
}

// TestCapture: a Wayland client paints colour blocks fullscreen; the capture through Mutter's
// ScreenCast and PipeWire shows each colour in place, sees the picture change, and reports a
// static screen unchanged without copying it.
func TestCapture(t *testing.T) {
	h, wp := startGNOME(t)
	s := openSession(t, h, true) // the cursor stays at 16,16, away from the points checked
	if w, hh := s.Size(); w != 1280 || hh != 720 {
		t.Errorf("Mutter announced a %dx%d stream, want 1280x720", w, hh)
	}
	c, err := s.Capturer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := waitPattern(t, c, 0)
	if f.Width != 1280 || f.Height != 720 || f.Stride < 1280*4 || len(f.Pix) < f.Stride*720 {
		t.Fatalf("frame %dx%d stride %d len %d", f.Width, f.Height, f.Stride, len(f.Pix))
	}
	for n := 1; n <= 3; n++ {
		wp.Next()
		waitPattern(t, c, n)
	}
	st := c.Stats()
	t.Logf("stats after 4 patterns: %+v", st)
	if st.Buffers == 0 {
		t.Fatal("no buffers counted")
	}
	// Nothing changes now: a capture without a new buffer is not Changed and copies nothing.
	for range 5 {
		before := c.Stats()
		f, err := c.Capture()
		if err != nil {
			t.Fatal(err)
		}
		after := c.Stats()
		if mismatches(f, 3) != nil {
			t.Fatal("the picture changed on a static screen")
		}
		if !f.Changed && after.Copied != before.Copied {
			t.Errorf("an unchanged capture copied %d pixels", after.Copied-before.Copied)
		}
		if f.Changed && after.Buffers == st.Buffers {
			t.Error("a capture is Changed though no buffer arrived")
		}
		st = after
	}
}

// inject performs events, failing the test on an error.
func inject(t *testing.T, x *mutter.Injector, events ...input.Event) {
	t.Helper()
	for _, e := range events {
		if err := x.Inject(e); err != nil {
			t.Fatalf("inject %v: %v", e.Type, err)
		}
	}
}

// TestInput: a click lands where the pointer was sent, keys by position and text by
// character reach the Wayland client, the wheel scrolls in clicks and smoothly, and
// release-all lifts what was held. The client reports what it received; the session's first
// events are the ones the headless seat used to drop.
func TestInput(t *testing.T) {
	h, wp := startGNOME(t)
	s := openSession(t, h, true)
	x := s.Injector()
	// Mutter zooms a window in as it maps, and while the zoom runs it hands the window pointer
	// coordinates scaled around its centre (a move to 480,180 arrived as 320,0 at the start).
	// The capture shows the pattern in place once the zoom is over.
	c, err := s.Capturer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitPattern(t, c, 0)
	c.Close()
	defer x.Close()
	code := func(name string) input.Code {
		c, ok := input.ParseCode(name)
		if !ok {
			t.Fatalf("no key %s", name)
		}
		return c
	}

	// A click in the middle of block 1,0. Mutter gives the window the pointer focus at its
	// next frame after the pointer first moves over it: clicks before that go nowhere, as on
	// a real seat.
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 480, Y: 180})
	wp.PointerAt(480, 180)
	inject(t, x, input.ButtonEvent(input.ButtonLeft, true), input.ButtonEvent(input.ButtonLeft, false))
	if got := wp.Expect("button "); got != "button 272 1 480 180" {
		t.Errorf("press: %q", got)
	}
	if got := wp.Expect("button "); got != "button 272 0 480 180" {
		t.Errorf("release: %q", got)
	}
	// A right click elsewhere: the pointer moved.
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 1000, Y: 600})
	wp.PointerAt(1000, 600)
	inject(t, x, input.ButtonEvent(input.ButtonRight, true), input.ButtonEvent(input.ButtonRight, false))
	if got := wp.Expect("button "); got != "button 273 1 1000 600" {
		t.Errorf("right press: %q", got)
	}
	wp.Expect("button 273 0")

	// Keys by position: KeyQ types q on the host's (US) layout.
	inject(t, x, input.KeyEvent(code("KeyQ"), true), input.KeyEvent(code("KeyQ"), false))
	if got := wp.Expect("key "); got != "key 16 1 q" {
		t.Errorf("KeyQ down: %q", got)
	}
	if got := wp.Expect("key "); got != "key 16 0 -" {
		t.Errorf("KeyQ up: %q", got)
	}

	// Text by character, Shift levels included, with Control held by the viewer meanwhile:
	// Control is lifted for the text and pressed again.
	inject(t, x, input.KeyEvent(code("ControlLeft"), true), input.TextEvent("Hi! ~x"), input.KeyEvent(code("ControlLeft"), false))
	var typed strings.Builder
	for typed.String() != "Hi!\\x20~x" {
		l := wp.Expect("key ")
		var k, down int
		var text string
		if _, err := fmt.Sscanf(l, "key %d %d %s", &k, &down, &text); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if down == 1 && text != "-" && k != 29 && k != 42 {
			typed.WriteString(text)
		}
		if typed.Len() > 20 {
			t.Fatalf("typed %q, want Hi! ~x", typed.String())
		}
	}

	// Wheel: one notch down as a click, then half a notch smoothly.
	inject(t, x, input.WheelBy(0, input.WheelNotch))
	if got := wp.Expect("discrete "); got != "discrete 0 1" {
		t.Errorf("wheel click: %q", got)
	}
	inject(t, x, input.WheelBy(0, input.WheelNotch/2))
	if got := wp.Expect("axis "); !strings.HasPrefix(got, "axis 0 ") || got == "axis 0 0" {
		t.Errorf("smooth scroll: %q", got)
	}

	// Release-all lifts a held key and a held button.
	inject(t, x, input.KeyEvent(code("KeyA"), true), input.ButtonEvent(input.ButtonMiddle, true))
	wp.Expect("key 30 1 a")
	wp.Expect("button 274 1")
	inject(t, x, input.ReleaseAllEvent())
	for _, want := range []string{"key 30 0", "button 274 0"} {
		if got := wp.Expect(strings.Fields(want)[0] + " "); !strings.HasPrefix(got, want) {
			t.Errorf("release-all: got %q, want %s", got, want)
		}
	}
}

// testLogger shows the session's programs' messages with -v and DESKPORT_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("DESKPORT_TEST_LOG") != "debug" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestSessionEnds: when the session ends under a running capture (Mutter stops the stream and
// PipeWire frees the buffer the capturer holds), Capture reports the end and Close is safe.
func TestSessionEnds(t *testing.T) {
	h, _ := startGNOME(t)
	s := openSession(t, h, true)
	c, err := s.Capturer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitPattern(t, c, 0)
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := c.Capture()
		if errors.Is(err, pipewire.ErrStreamEnded) {
			break
		}
		if err != nil {
			t.Fatalf("capture after the session ended: %v", err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("the capture never saw the session end: %v", err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capture(); !errors.Is(err, pipewire.ErrClosed) {
		t.Errorf("capture after Close: %v", err)
	}
}
