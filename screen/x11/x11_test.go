//go:build linux && cgo

package x11_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/internal/xpattern/xpatterntest"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/x11"
	"github.com/deskport/deskport/screen/xvfb"
)

// xpatternBin is built once by TestMain.
var xpatternBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "deskport-x11-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if xpatternBin, err = xpatterntest.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// startX starts an Xvfb of the given size for the test, or skips the test without one.
func startX(tb testing.TB, w, h int, args ...string) *xvfb.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := xvfb.Start(ctx, xvfb.Config{Width: w, Height: h, Args: args})
	if errors.Is(err, xvfb.ErrNotInstalled) {
		testenv.Missing(tb, "Xvfb is not installed; the X11 capture tests need it")
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func open(tb testing.TB, cfg x11.Config) *x11.Capturer {
	tb.Helper()
	c, err := x11.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func capture(tb testing.TB, c *x11.Capturer) *screen.Frame {
	tb.Helper()
	f, err := c.Capture()
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func at(f *screen.Frame, x, y int) pattern.RGB {
	o := y*f.Stride + x*4
	return pattern.RGB{R: f.Pix[o+2], G: f.Pix[o+1], B: f.Pix[o]}
}

// checkBlocks compares every block of f with blocks pattern n, at its centre and near its
// corners.
func checkBlocks(t *testing.T, f *screen.Frame, n int) {
	t.Helper()
	for row := range pattern.Rows {
		for col := range pattern.Cols {
			want := pattern.Block(n, col, row)
			x0, y0, x1, y1 := pattern.BlockRect(col, row, f.Width, f.Height)
			for _, p := range [][2]int{{(x0 + x1) / 2, (y0 + y1) / 2}, {x0 + 2, y0 + 2}, {x1 - 3, y0 + 2}, {x0 + 2, y1 - 3}, {x1 - 3, y1 - 3}} {
				if got := at(f, p[0], p[1]); got != want {
					t.Errorf("pattern %d block %d,%d at %d,%d: got %v, want %v", n, col, row, p[0], p[1], got, want)
				}
			}
		}
	}
}

func TestBlocksAndDamage(t *testing.T) {
	srv := startX(t, 1280, 720)
	xp := xpatterntest.Start(t, xpatternBin, srv, "blocks")
	c := open(t, x11.Config{Display: srv.Display(), Monitor: x11.AllMonitors})
	if !c.SHM() {
		t.Error("Xvfb has MIT-SHM but the capturer does not use it")
	}

	f := capture(t, c)
	if f.Width != 1280 || f.Height != 720 || f.Stride < 1280*4 || len(f.Pix) < f.Stride*720 {
		t.Fatalf("frame %dx%d stride %d len %d", f.Width, f.Height, f.Stride, len(f.Pix))
	}
	if !f.Changed {
		t.Error("the first capture is not Changed")
	}
	checkBlocks(t, f, 0)

	for i := range 3 {
		if f := capture(t, c); f.Changed {
			t.Fatalf("capture %d of a static screen is Changed", i)
		}
	}

	for n := 1; n <= 3; n++ {
		xp.Next()
		f = capture(t, c)
		if !f.Changed {
			t.Fatalf("capture after next %d is not Changed", n)
		}
		checkBlocks(t, f, n)
		if f := capture(t, c); f.Changed {
			t.Fatalf("second capture after next %d is Changed", n)
		}
		checkBlocks(t, f, n) // Pix still holds the picture
	}
}

func TestFallbackWithoutSHM(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		cfg  x11.Config
	}{
		{"disabled", nil, x11.Config{DisableSHM: true}},
		{"server-without-shm", []string{"-extension", "MIT-SHM"}, x11.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startX(t, 640, 480, tc.args...)
			xp := xpatterntest.Start(t, xpatternBin, srv, "blocks")
			tc.cfg.Display = srv.Display()
			c := open(t, tc.cfg)
			if c.SHM() {
				t.Fatal("capturer uses MIT-SHM")
			}
			checkBlocks(t, capture(t, c), 0)
			if capture(t, c).Changed {
				t.Error("static screen Changed")
			}
			xp.Next()
			f := capture(t, c)
			if !f.Changed {
				t.Error("not Changed after next")
			}
			checkBlocks(t, f, 1)
		})
	}
}

func mousemove(t *testing.T, srv *xvfb.Server, x, y int) {
	t.Helper()
	testenv.LookPath(t, "xdotool")
	cmd := exec.Command("xdotool", "mousemove", "--sync", fmt.Sprint(x), fmt.Sprint(y))
	cmd.Env = srv.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdotool: %v\n%s", err, out)
	}
}

// differing counts the pixels within r of (x, y) that are not want.
func differing(f *screen.Frame, x, y, r int, want pattern.RGB) int {
	n := 0
	for j := max(y-r, 0); j < min(y+r, f.Height); j++ {
		for i := max(x-r, 0); i < min(x+r, f.Width); i++ {
			if at(f, i, j) != want {
				n++
			}
		}
	}
	return n
}

func TestCursor(t *testing.T) {
	srv := startX(t, 1280, 720)
	xpatterntest.Start(t, xpatternBin, srv, "blocks")
	c := open(t, x11.Config{Display: srv.Display(), Cursor: true})
	plain := open(t, x11.Config{Display: srv.Display()})

	// Centres of block 0,0 (red) and 1,0 (green).
	ax, ay, bx, by := 160, 180, 480, 180
	mousemove(t, srv, ax, ay)
	f := capture(t, c)
	if !f.Changed {
		t.Fatal("first capture not Changed")
	}
	if n := differing(f, ax, ay, 32, pattern.Red); n < 10 {
		t.Fatalf("only %d cursor pixels near %d,%d", n, ax, ay)
	}
	if n := differing(capture(t, plain), ax, ay, 32, pattern.Red); n != 0 {
		t.Fatalf("the capture without cursor has %d non-red pixels near the pointer", n)
	}
	if capture(t, c).Changed {
		t.Fatal("capture without a pointer move is Changed")
	}

	mousemove(t, srv, bx, by)
	f = capture(t, c)
	if !f.Changed {
		t.Fatal("capture after a pointer move is not Changed")
	}
	if n := differing(f, ax, ay, 32, pattern.Red); n != 0 {
		t.Errorf("%d pixels of the old cursor left at %d,%d", n, ax, ay)
	}
	if n := differing(f, bx, by, 32, pattern.Green); n < 10 {
		t.Errorf("only %d cursor pixels near %d,%d", n, bx, by)
	}
	checkBlocksAway(t, f, bx, by)

	// Half off the captured area: drawn clipped, no crash.
	mousemove(t, srv, 1279, 719)
	f = capture(t, c)
	if !f.Changed || differing(f, bx, by, 32, pattern.Green) != 0 {
		t.Error("cursor at the corner: old cursor not removed or no change")
	}
}

// checkBlocksAway checks the block centres except one near (x, y).
func checkBlocksAway(t *testing.T, f *screen.Frame, x, y int) {
	t.Helper()
	for row := range pattern.Rows {
		for col := range pattern.Cols {
			x0, y0, x1, y1 := pattern.BlockRect(col, row, f.Width, f.Height)
			if x >= x0 && x < x1 && y >= y0 && y < y1 {
				continue
			}
			if got, want := at(f, (x0+x1)/2, (y0+y1)/2), pattern.Block(0, col, row); got != want {
				t.Errorf("block %d,%d: got %v, want %v", col, row, got, want)
			}
		}
	}
}

func TestMonitors(t *testing.T) {
	srv := startX(t, 1024, 768)
	mons, err := x11.Monitors(srv.Display())
	if err != nil {
		t.Fatal(err)
	}
	if len(mons) != 1 {
		t.Fatalf("Xvfb has %d monitors: %+v", len(mons), mons)
	}
	if m := mons[0]; m.Index != 0 || m.X != 0 || m.Y != 0 || m.Width != 1024 || m.Height != 768 || m.Name == "" {
		t.Errorf("monitor %+v", m)
	}
	c := open(t, x11.Config{Display: srv.Display(), Monitor: 0})
	if x, y, w, h := c.Rect(); x != 0 || y != 0 || w != 1024 || h != 768 {
		t.Errorf("monitor 0 captures %d,%d %dx%d", x, y, w, h)
	}
	if _, err := x11.Open(x11.Config{Display: srv.Display(), Monitor: 1}); !errors.Is(err, x11.ErrNoMonitor) {
		t.Errorf("monitor 1: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := x11.Open(x11.Config{Display: ":4242"})
	if !errors.Is(err, x11.ErrNoDisplay) || !strings.Contains(err.Error(), "--virtual-display") {
		t.Errorf("bad display: %v", err)
	}
	t.Setenv("DISPLAY", "")
	if _, err := x11.Open(x11.Config{}); !errors.Is(err, x11.ErrNoDisplay) {
		t.Errorf("no DISPLAY: %v", err)
	}
	if _, err := x11.Monitors(""); !errors.Is(err, x11.ErrNoDisplay) {
		t.Errorf("Monitors without DISPLAY: %v", err)
	}
	if _, err := x11.Open(x11.Config{Monitor: -2}); err == nil {
		t.Error("monitor -2 accepted")
	}
}

func TestServerGoesAway(t *testing.T) {
	srv := startX(t, 320, 240)
	c := open(t, x11.Config{Display: srv.Display(), Cursor: true})
	capture(t, c)
	srv.Close()
	_, err := c.Capture()
	if !errors.Is(err, x11.ErrConnectionLost) {
		t.Fatalf("capture after the server exited: %v", err)
	}
	if _, err := c.Capture(); !errors.Is(err, x11.ErrConnectionLost) {
		t.Fatalf("second capture: %v", err)
	}
	c.Close()
	if _, err := c.Capture(); !errors.Is(err, x11.ErrClosed) {
		t.Fatalf("capture after Close: %v", err)
	}
}

// TestCloseOnAnotherThreadAfterServerGone closes a capturer on another OS thread than the one
// whose Capture found the server gone, as a stream does whenever the Go scheduler moves its
// goroutine. Xlib leaves a connection that had an I/O error locked for the thread that saw it
// (_XIOError takes the display's user lock for an exit handler that was not expected to return),
// so XCloseDisplay on any other thread waited forever, holding the process's Xlib lock
// (internal/xlib): no capturer or injector could open again. The 60 s bound only turns that
// deadlock into a failure; Close takes milliseconds.
func TestCloseOnAnotherThreadAfterServerGone(t *testing.T) {
	srv := startX(t, 320, 240)
	c, err := x11.Open(x11.Config{Display: srv.Display(), Cursor: true})
	if err != nil {
		t.Fatal(err)
	}
	capture(t, c)
	srv.Close()
	lost, release := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread() // this thread sees the I/O error and stays busy until release
		defer runtime.UnlockOSThread()
		_, err := c.Capture()
		lost <- err
		<-release
	}()
	if err := <-lost; !errors.Is(err, x11.ErrConnectionLost) {
		t.Fatalf("capture after the server exited: %v", err)
	}
	defer close(release)
	closed := make(chan struct{})
	go func() {
		runtime.LockOSThread() // not the thread above: that one is locked to its goroutine
		defer runtime.UnlockOSThread()
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("Close on another thread than the capture that lost the connection did not return: deadlocked in XCloseDisplay")
	}
	// And the process can still open connections.
	other := startX(t, 320, 240)
	capture(t, open(t, x11.Config{Display: other.Display()}))
}

func TestCaptureDoesNotAllocate(t *testing.T) {
	srv := startX(t, 320, 240)
	xpatterntest.Start(t, xpatternBin, srv, "blocks")
	c := open(t, x11.Config{Display: srv.Display(), Cursor: true})
	capture(t, c)
	for _, grab := range []bool{false, true} {
		changed := 0
		n := testing.AllocsPerRun(50, func() {
			if grab {
				c.Invalidate()
			}
			if f, _ := c.Capture(); f != nil && f.Changed {
				changed++
			}
		})
		if grab && changed == 0 || !grab && changed != 0 {
			t.Errorf("grab=%v: %d of 51 captures Changed", grab, changed)
		}
		if n != 0 {
			t.Errorf("grab=%v: Capture allocates %v times a frame", grab, n)
		}
	}
}

// TestClock reads xpattern's clock off the screen: the capture is live and the clock pattern
// decodes, as the latency benchmark needs.
func TestClock(t *testing.T) {
	srv := startX(t, 640, 360)
	xp := xpatterntest.Start(t, xpatternBin, srv, "blocks")
	xp.Do("clock")
	c := open(t, x11.Config{Display: srv.Display()})
	var last int64 = -1
	for range 3 {
		before := time.Now().UnixMilli() & pattern.ClockMask
		f := capture(t, c)
		after := time.Now().UnixMilli() & pattern.ClockMask
		got := pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height)
		// The clock repaints every millisecond; it may lag a few behind when the machine is
		// busy, but it cannot be ahead of now or behind the previous reading.
		if got > after || got < before-1000 || got < last {
			t.Fatalf("clock on screen %d, now %d..%d, previous %d", got, before, after, last)
		}
		last = got
		time.Sleep(5 * time.Millisecond) // let the clock move on; not a synchronisation
	}
}

func TestResize(t *testing.T) {
	srv := startX(t, 1280, 720)
	xp := xpatterntest.Start(t, xpatternBin, srv, "blocks")
	c := open(t, x11.Config{Display: srv.Display(), Monitor: x11.AllMonitors})
	checkBlocks(t, capture(t, c), 0)
	for _, size := range [][2]int{{1024, 576}, {640, 480}, {1280, 720}} {
		xp.Do(fmt.Sprintf("resize %dx%d", size[0], size[1]))
		f := capture(t, c)
		if f.Width != size[0] || f.Height != size[1] || !f.Changed || len(f.Pix) < f.Stride*f.Height {
			t.Fatalf("after resize to %dx%d: %dx%d changed=%v", size[0], size[1], f.Width, f.Height, f.Changed)
		}
		checkBlocks(t, f, 0)
		if f := capture(t, c); f.Changed || f.Width != size[0] {
			t.Fatalf("second capture after resize to %dx%d: %dx%d changed=%v", size[0], size[1], f.Width, f.Height, f.Changed)
		}
	}
}

// TestOpenAndCloseConcurrently opens capturers, captures and closes them, and lists the
// monitors, from several goroutines at once, so that the number of open connections keeps
// dropping to zero while another goroutine is setting one up: what a host does when one
// viewer's stream ends while another viewer's session starts. libXext frees its process-wide
// list of connections when the last one closes, without a lock; unless Open, Close and Monitors
// take internal/xlib's lock, a connection set up meanwhile is linked into freed memory and the
// test binary dies of a corrupted heap (glibc's "malloc(): unaligned tcache chunk detected") or
// a segfault within a second (docs/capture.md).
func TestOpenAndCloseConcurrently(t *testing.T) {
	srv := startX(t, 320, 240)
	const goroutines, rounds = 4, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range rounds {
				if g%2 == 0 {
					if _, err := x11.Monitors(srv.Display()); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				c, err := x11.Open(x11.Config{Display: srv.Display(), Monitor: x11.AllMonitors, Cursor: true})
				if err != nil {
					t.Error(err)
					return
				}
				if f, err := c.Capture(); err != nil {
					t.Errorf("capture: %v", err)
				} else if f.Width != 320 || f.Height != 240 {
					t.Errorf("captured %dx%d of a 320x240 screen", f.Width, f.Height)
				}
				c.Close()
			}
		})
	}
	wg.Wait()
}
