//go:build linux && cgo

package xtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/x11"
	"github.com/deskport/deskport/screen/xvfb"
)

const width, height = 1280, 720

// display starts a 1280×720 Xvfb and an injector on it; it skips if Xvfb or xdotool is
// missing.
func display(t testing.TB) (*xvfb.Server, *Injector) {
	t.Helper()
	testenv.LookPath(t, "xdotool")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: width, Height: height})
	if errors.Is(err, xvfb.ErrNotInstalled) {
		testenv.Missing(t, "Xvfb is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	x, err := Open(Config{Display: srv.Display()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, x
}

func newServer(t testing.TB, cfg input.Config) *input.Server {
	t.Helper()
	if cfg.Rect == nil {
		cfg.Rect = func() (int, int, int, int) { return 0, 0, width, height }
	}
	s, err := input.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs a whole stream of events through s.
func serve(t testing.TB, s *input.Server, events ...input.Event) {
	t.Helper()
	b, err := input.Encode(events...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func xdotool(t testing.TB, srv *xvfb.Server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	cmd.Env = srv.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func pointer(t testing.TB, srv *xvfb.Server) (x, y int) {
	t.Helper()
	out := xdotool(t, srv, "getmouselocation")
	if _, err := fmt.Sscanf(out, "x:%d y:%d", &x, &y); err != nil {
		t.Fatalf("getmouselocation said %q: %v", out, err)
	}
	return x, y
}

// poll calls cond until it holds or 10 s pass.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !try(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// try calls cond until it holds (true) or 10 s pass (false).
func try(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// xterm runs script in an xterm at the top left corner, in a UTF-8 locale, and waits for its
// window.
func xterm(t testing.TB, srv *xvfb.Server, title, script string) {
	t.Helper()
	testenv.LookPath(t, "xterm")
	cmd := exec.Command("xterm", "-u8", "-fa", "DejaVu Sans Mono", "-fs", "10", "-geometry", "80x24+0+0",
		"-T", title, "-e", "sh", "-c", script)
	cmd.Env = append(srv.Env(), "LC_ALL=C.UTF-8")
	p, err := srv.Start(context.Background(), cmd)
	if err != nil {
		t.Fatalf("xterm: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	xdotool(t, srv, "search", "--sync", "--onlyvisible", "--name", title)
}

func TestPointerAbsolute(t *testing.T) {
	srv, x := display(t)
	serve(t, newServer(t, input.Config{Injector: x}), input.PointerTo(0.25, 0.5))
	if px, py := pointer(t, srv); abs(px-320) > 1 || abs(py-360) > 1 {
		t.Errorf("pointer at (%d, %d), want (320, 360) ±1", px, py)
	}

	// A monitor at (100, 50) of 640×360: the corners of the picture are the monitor's.
	mon := newServer(t, input.Config{Injector: x, Rect: func() (int, int, int, int) { return 100, 50, 640, 360 }})
	serve(t, mon, input.PointerTo(1, 1))
	if px, py := pointer(t, srv); px != 739 || py != 409 {
		t.Errorf("pointer at (%d, %d), want the monitor's last pixel (739, 409)", px, py)
	}
	serve(t, mon, input.PointerTo(0, 0))
	if px, py := pointer(t, srv); px != 100 || py != 50 {
		t.Errorf("pointer at (%d, %d), want the monitor's first pixel (100, 50)", px, py)
	}
}

func TestTyping(t *testing.T) {
	srv, x := display(t)
	out := filepath.Join(t.TempDir(), "typed")
	xterm(t, srv, "deskport-typing", "cat > "+out)
	key := func(name string) []input.Event {
		c, ok := input.ParseCode(name)
		if !ok {
			t.Fatalf("no key %s", name)
		}
		return []input.Event{input.KeyEvent(c, true), input.KeyEvent(c, false)}
	}
	shift, _ := input.ParseCode("ShiftLeft")
	events := []input.Event{input.PointerTo(0.1, 0.1)} // keyboard focus follows the pointer
	events = append(events, key("KeyA")...)
	events = append(events, input.KeyEvent(shift, true))
	events = append(events, key("KeyA")...)
	events = append(events, input.KeyEvent(shift, false))
	events = append(events, input.TextEvent("é€"), input.TextEvent("z"))
	events = append(events, key("Enter")...)
	s := newServer(t, input.Config{Injector: x})
	serve(t, s, events...)

	want := "aAé€z\n"
	var got []byte
	try(func() bool {
		got, _ = os.ReadFile(out)
		return len(got) >= len(want)
	})
	if string(got) != want {
		t.Errorf("typed %q, want %q", got, want)
	}
	if st := s.Stats(); st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v: want no failures or drops", st)
	}
	// The borrowed keycodes go back to having no symbols on Close.
	km := x.keymap()
	defer km.free()
	for _, r := range "é€" {
		if kc, _ := km.find(keysymOf(r)); kc == 0 {
			t.Errorf("%q is not mapped while the injector lives", r)
		}
	}
}

func TestButtonsAndWheel(t *testing.T) {
	srv, x := display(t)
	dir := t.TempDir()
	out, ready := filepath.Join(dir, "mouse"), filepath.Join(dir, "ready")
	// xterm reports presses and releases (mode 1000): ESC [ M, 32+button code, 32+column,
	// 32+row. Left press 0, release 3, wheel up 64, wheel down 65.
	xterm(t, srv, "deskport-mouse", fmt.Sprintf(`stty raw -echo; printf '\033[?1000h'; touch %s; head -c 24 > %s`, ready, out))
	poll(t, "mouse reporting on", func() bool { _, err := os.Stat(ready); return err == nil })
	s := newServer(t, input.Config{Injector: x})
	serve(t, s,
		input.PointerTo(0.1, 0.1),
		input.ButtonEvent(input.ButtonLeft, true), input.ButtonEvent(input.ButtonLeft, false),
		input.WheelBy(0, -input.WheelNotch),
		input.WheelBy(0, input.WheelNotch/2), input.WheelBy(0, input.WheelNotch/2), // two halves, one notch
		input.WheelBy(0, 30), // a quarter notch: nothing yet
	)
	var got []byte
	poll(t, "four mouse reports", func() bool {
		got, _ = os.ReadFile(out)
		return len(got) >= 24
	})
	var buttons []byte
	for r := range slices.Chunk(got, 6) {
		if !bytes.HasPrefix(r, []byte("\033[M")) {
			t.Fatalf("xterm reported %q, not a mouse report", got)
		}
		buttons = append(buttons, r[3]-32)
	}
	if want := []byte{0, 3, 64, 65}; !bytes.Equal(buttons, want) {
		t.Errorf("xterm saw button codes %v, want %v (left press, release, wheel up, wheel down)", buttons, want)
	}

	// Back and forward are X buttons 8 and 9; the server must accept them.
	serve(t, s, input.ButtonEvent(input.ButtonBack, true), input.ButtonEvent(input.ButtonBack, false),
		input.ButtonEvent(input.ButtonForward, true), input.ButtonEvent(input.ButtonForward, false))
	if _, err := x.keysDown(); err != nil { // a round trip: any X error has arrived
		t.Fatal(err)
	}
	if e := x.xerror(); e != 0 {
		t.Errorf("X error %d injecting back/forward", e)
	}
}

func TestViewOnly(t *testing.T) {
	srv, x := display(t)
	serve(t, newServer(t, input.Config{Injector: x}), input.PointerTo(0.5, 0.5))
	px, py := pointer(t, srv)
	a, _ := input.ParseCode("KeyA")
	s := newServer(t, input.Config{Injector: x, ViewOnly: true})
	serve(t, s, input.PointerTo(0.9, 0.9), input.ButtonEvent(input.ButtonLeft, true), input.KeyEvent(a, true),
		input.TextEvent("x"), input.HeartbeatEvent(1, 1))
	if st := s.Stats(); st.Injected != 0 || st.Refused != 4 {
		t.Errorf("view-only stats %+v, want 0 injected and 4 refused", st)
	}
	if qx, qy := pointer(t, srv); qx != px || qy != py {
		t.Errorf("view-only moved the pointer from (%d, %d) to (%d, %d)", px, py, qx, qy)
	}
	if down, err := x.keysDown(); err != nil || len(down) != 0 {
		t.Errorf("view-only: keys down %v, %v", down, err)
	}
}

func TestHeartbeatTimeoutReleasesKey(t *testing.T) {
	_, x := display(t)
	s := newServer(t, input.Config{Injector: x})
	viewer, host := net.Pipe()
	defer viewer.Close()
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), host) }()

	shift, _ := input.ParseCode("ShiftLeft")
	kc := int(shift.XKeycode())
	b, _ := input.Encode(input.KeyEvent(shift, true))
	start := time.Now()
	if _, err := viewer.Write(b); err != nil {
		t.Fatal(err)
	}
	isDown := func() bool {
		down, err := x.keysDown()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(down, kc)
	}
	poll(t, "Shift down", isDown)
	poll(t, "the watchdog to release Shift", func() bool { return !isDown() })
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Shift released after %v, before the 1 s heartbeat timeout", d)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) instead of the watchdog releasing the key", err)
	default:
	}
	if st := s.Stats(); st.Watchdog != 1 {
		t.Errorf("stats %+v: want one watchdog release", st)
	}
	viewer.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestStreamEndReleasesKeys(t *testing.T) {
	_, x := display(t)
	ctrl, _ := input.ParseCode("ControlLeft")
	serve(t, newServer(t, input.Config{Injector: x}), input.KeyEvent(ctrl, true), input.ButtonEvent(input.ButtonLeft, true))
	if down, err := x.keysDown(); err != nil || len(down) != 0 {
		t.Errorf("after the stream ended: keys down %v, %v", down, err)
	}
}

func TestClosed(t *testing.T) {
	_, x := display(t)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Inject(input.PointerTo(0, 0)); !errors.Is(err, input.ErrClosed) {
		t.Errorf("Inject after Close: %v, want ErrClosed", err)
	}
}

func BenchmarkInject(b *testing.B) {
	_, x := display(b)
	a, _ := input.ParseCode("KeyA")
	down, up := input.KeyEvent(a, true), input.KeyEvent(a, false)
	for b.Loop() {
		if err := x.Inject(down); err != nil {
			b.Fatal(err)
		}
		if err := x.Inject(up); err != nil {
			b.Fatal(err)
		}
	}
}

func abs(v int) int { return max(v, -v) }

// TestOpenAndCloseBesideCapturers opens injectors, moves the pointer and closes them while other
// goroutines open and close screen/x11 capturers, with no other connection open: what a host
// does when one viewer's session ends while another's starts. Both packages must take
// internal/xlib's lock to open and close a connection; without it, libXext frees its
// process-wide list of connections under a connection being set up and the heap is corrupted
// (docs/capture.md).
func TestOpenAndCloseBesideCapturers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 320, Height: 240})
	if errors.Is(err, xvfb.ErrNotInstalled) {
		testenv.Missing(t, "Xvfb is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const goroutines, rounds = 4, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				if g%2 == 0 {
					x, err := Open(Config{Display: srv.Display()})
					if err != nil {
						t.Error(err)
						return
					}
					if err := x.Inject(input.Event{Type: input.TypePointerAbs, X: i, Y: i}); err != nil {
						t.Errorf("inject: %v", err)
					}
					if err := x.Close(); err != nil {
						t.Errorf("close: %v", err)
					}
					continue
				}
				c, err := x11.Open(x11.Config{Display: srv.Display(), Monitor: x11.AllMonitors})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Capture(); err != nil {
					t.Errorf("capture: %v", err)
				}
				c.Close()
			}
		})
	}
	wg.Wait()
}
