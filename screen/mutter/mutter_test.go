//go:build linux && cgo

package mutter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
	if buildErr != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", buildErr)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, wlpattern.Start(t, wlpatternBin, h)
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
	s := openSession(t, h, false)
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
