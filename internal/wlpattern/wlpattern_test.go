//go:build linux && cgo

package wlpattern_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/mutter"
)

// TestClock runs wlpattern's clock in a headless GNOME and reads it back through Mutter's screen
// cast: the time shown is recent, it changes from frame to frame, and the blocks pattern (after
// the "blocks" command) stops the frames.
func TestClock(t *testing.T) {
	dir := t.TempDir()
	bin, err := wlpattern.Build(dir)
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 640, Height: 360})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wp := wlpattern.StartPattern(t, bin, h, "clock")
	s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := s.Capturer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	// next waits for a changed frame (a hang guard of 20 s for the whole test).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	next := func() *screen.Frame {
		t.Helper()
		for {
			f, err := c.Capture()
			if err != nil {
				t.Fatal(err)
			}
			if f.Changed {
				return f
			}
			if err := c.Wait(ctx); err != nil {
				t.Fatalf("waiting for a frame: %v", err)
			}
		}
	}
	// Mutter zooms the window in as it maps (docs/wayland.md): wait until a frame shows a
	// plausible time, then every frame must.
	plausible := func(ms, now int64) bool { return ms <= now && now-ms <= 2000 }
	for i := 0; ; i++ {
		f := next()
		if plausible(pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height), time.Now().UnixMilli()&pattern.ClockMask) {
			break
		}
		if i == 100 {
			t.Fatal("no frame in 100 shows the time")
		}
	}
	seen := map[int64]bool{}
	for i := 0; i < 200 && len(seen) < 10; i++ {
		f := next()
		now := time.Now().UnixMilli() & pattern.ClockMask
		ms := pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height)
		// Each frame shows the time it was painted: at most a few frames old (generously, on a
		// loaded machine), never in the future.
		if !plausible(ms, now) {
			t.Fatalf("frame %d shows %d ms, now is %d (%d ms apart)", i, ms, now, now-ms)
		}
		seen[ms] = true
	}
	if len(seen) < 10 {
		t.Fatalf("the clock showed only %d different times in 200 frames", len(seen))
	}

	wp.Pattern("blocks")
	for {
		f := next()
		if at(f, f.Width/8, f.Height/4) == pattern.Block(0, 0, 0) && at(f, f.Width*7/8, f.Height*3/4) == pattern.Block(0, 3, 1) {
			break
		}
	}
	// A static screen: no more buffers. Mutter may still hand over the frame it was drawing.
	b0 := c.Stats().Buffers
	wctx, wcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer wcancel()
	for wctx.Err() == nil {
		if _, err := c.Capture(); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(wctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	}
	if n := c.Stats().Buffers - b0; n > 1 {
		t.Errorf("the blocks pattern is static, but %d frames came in 500 ms", n)
	}
}

func at(f *screen.Frame, x, y int) pattern.RGB {
	o := y*f.Stride + x*4
	return pattern.RGB{R: f.Pix[o+2], G: f.Pix[o+1], B: f.Pix[o]}
}
