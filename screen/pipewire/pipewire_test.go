//go:build linux && cgo

package pipewire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/pipewire"
)

// TestFrameOutlivesStream: Capture hands out Mutter's buffer itself, no copy. When the session
// ends, PipeWire removes that buffer while the frame is still in use; the frame must stay
// readable, unchanged, until the next Capture (which reports the end).
func TestFrameOutlivesStream(t *testing.T) {
	bin, err := wlpattern.Build(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 320, Height: 180})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wp := wlpattern.StartPattern(t, bin, h, "clock")
	s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir(), MaxFPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Capturer(context.Background())
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A still picture, so that the last frame is the one on screen.
	wp.Pattern("blocks")
	for {
		f, err := c.Capture()
		if err != nil {
			t.Fatal(err)
		}
		if f.Changed && pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height) == clockOf(0) {
			break
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("the blocks never showed: %v", err)
		}
	}
	f, err := c.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Lent == 0 || st.Copied != 0 {
		t.Errorf("stats %+v: want frames handed over without a copy", st)
	}
	want := append([]byte(nil), f.Pix...)
	s.Close() // Mutter stops the stream: PipeWire removes its buffers
	// The end reaches the capturer as a wake-up, then as Capture's error; a Capture that fails
	// leaves the previous frame as it was, so it must still be intact after both.
	same := func(when string) {
		t.Helper()
		for i := range want {
			if f.Pix[i] != want[i] {
				t.Fatalf("%s: the frame changed at byte %d", when, i)
			}
		}
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("no word of the stream's end: %v", err)
	}
	same("after the wake-up")
	for {
		_, err := c.Capture()
		if errors.Is(err, pipewire.ErrStreamEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("Capture never reported the end: %v", err)
		}
	}
	same("after Capture reported the end")
}

// clockOf is what DecodeClock reads from blocks pattern n (its luma, block by block): a
// constant, so it tells the blocks from the clock.
func clockOf(n int) int64 {
	var ms int64
	for i := range pattern.ClockBits {
		x0, y0, x1, y1 := pattern.ClockRect(i, 320, 180)
		c := pattern.At(n, float64(x0+x1)/2/320, float64(y0+y1)/2/180)
		if (int(c.R)*77+int(c.G)*150+int(c.B)*29)>>8 >= 128 {
			ms |= 1 << i
		}
	}
	return ms
}
