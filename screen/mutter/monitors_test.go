//go:build linux && cgo

package mutter_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/mutter"
)

// TestMonitors: a headless GNOME with two virtual monitors lists both (connector, place, size,
// primary); a session captures each on its own stream, and the pointer follows the monitor
// captured last: a Wayland client fullscreen on the second monitor gets a click at the pixel of
// that monitor's stream it was sent to.
func TestMonitors(t *testing.T) {
	if buildErr != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", buildErr)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720, Extra: [][2]int{{800, 600}}, Logger: testLogger()})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	mons, err := mutter.Monitors(ctx, h.Bus())
	if err != nil {
		t.Fatal(err)
	}
	want := []screen.Monitor{
		{Index: 0, Name: "Meta-0", X: 0, Y: 0, Width: 1280, Height: 720, Primary: true},
		{Index: 1, Name: "Meta-1", X: 1280, Y: 0, Width: 800, Height: 600},
	}
	if fmt.Sprint(mons) != fmt.Sprint(want) {
		t.Fatalf("monitors %+v, want %+v", mons, want)
	}
	s := openSession(t, h, false)
	if got := s.Monitors(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the session's monitors %+v", got)
	}
	if w, hh := s.Size(); w != 1280 || hh != 720 {
		t.Errorf("the default stream is %dx%d, want the primary monitor's 1280x720", w, hh)
	}
	if _, err := s.CapturerFor(ctx, 2); !errors.Is(err, mutter.ErrNoMonitor) {
		t.Errorf("monitor 2: %v", err)
	}

	// The client goes fullscreen on the primary monitor; the pointer enters it there.
	wp := wlpattern.Start(t, wlpatternBin, h)
	c0, err := s.CapturerFor(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitPattern(t, c0, 0) // and Mutter's zoom-in is over
	x := s.Injector()
	defer x.Close()
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 480, Y: 180})
	wp.PointerAt(480, 180)
	// One consumer per stream at a time, as the host does (it closes a monitor's capture when
	// its viewer switches away): Mutter sends a second consumer of a running stream no frame
	// until the screen changes.
	c0.Close()

	// Capturing the second monitor makes the pointer's pixels that monitor's: 100,100 there
	// is off the client.
	c1, err := s.CapturerFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := c1.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if f1.Width != 800 || f1.Height != 600 || mismatches(f1, 0) == nil {
		t.Fatalf("the second monitor's frame is %dx%d and shows the client", f1.Width, f1.Height)
	}
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 100, Y: 100})
	c1.Close()

	// Back on the first: the pointer enters the client at the pixel sent (not at 100,100,
	// which it would have reached had the move gone to the first monitor), and a click lands
	// there.
	c0b, err := s.CapturerFor(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 1000, Y: 600})
	if got := wp.Expect("pointer-enter "); got != "pointer-enter 1000 600" {
		t.Fatalf("the pointer came back as %q, want pointer-enter 1000 600", got)
	}
	inject(t, x, input.ButtonEvent(input.ButtonLeft, true), input.ButtonEvent(input.ButtonLeft, false))
	if got := wp.Expect("button "); got != "button 272 1 1000 600" {
		t.Errorf("press: %q", got)
	}
	c0b.Close()

	// Monitor -1 is the whole desktop (an area stream of both monitors), the pointer in its
	// pixels: the client's blocks on the left, 1280+100,100 is on the second monitor and
	// 200,300 back in the client.
	cw, err := s.CapturerFor(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Close()
	fw, err := cw.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if fw.Width != 2080 || fw.Height != 720 {
		t.Fatalf("the whole desktop is %dx%d, want 2080x720", fw.Width, fw.Height)
	}
	for row := range pattern.Rows {
		for col := range pattern.Cols {
			x0, y0, x1, y1 := pattern.BlockRect(col, row, 1280, 720)
			if got, want := at(fw, (x0+x1)/2, (y0+y1)/2), pattern.Block(0, col, row); got != want {
				t.Errorf("whole desktop, block %d,%d: %v, want %v", col, row, got, want)
			}
		}
	}
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 1380, Y: 100})
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 200, Y: 300})
	if got := wp.Expect("pointer-enter "); got != "pointer-enter 200 300" {
		t.Fatalf("on the whole desktop the pointer came back as %q, want pointer-enter 200 300", got)
	}
}
