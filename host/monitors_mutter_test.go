//go:build linux && cgo

package host

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/desktopctl"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// TestMutterMonitors: on the mutter backend in a GNOME session with two monitors, the control
// stream's hello lists both, the stream shows the whole desktop by default, and the viewer's
// monitor switch moves it to either monitor and back (the stats report each size); a monitor
// the session lacks is refused.
func TestMutterMonitors(t *testing.T) {
	bin, err := wlpattern.Build(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720, Extra: [][2]int{{800, 600}}})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wlpattern.Start(t, bin, h) // something on the primary monitor
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", h.Bus())
	t.Setenv("XDG_RUNTIME_DIR", h.RuntimeDir())
	t.Setenv("WAYLAND_DISPLAY", "wayland-0")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rvURL, stopRV := startRendezvous(t)
	defer stopRV()
	dir := t.TempDir()
	a, err := New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), Code: true,
		CodeGrants: Caps{View: true}, Desktop: DesktopConfig{Backend: BackendMutter, Monitor: -1},
		Session: session.Config{LoopbackOnly: true}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, runCancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(runCtx) }()
	defer func() { runCancel(); <-runDone }()
	waitOnline(t, rvURL, a.ID())
	code, _, _ := a.codes.Current()
	conn, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "viewer.key"), HostID: a.ID(), Code: code,
		Session: session.Config{LoopbackOnly: true, Video: &session.VideoConfig{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, _, err := mux.Open(ctx, conn.Interactive, mux.Request{Kind: mux.KindControl, Payload: []byte{desktopctl.Version}})
	if err != nil {
		t.Fatalf("open control: %v", err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(60 * time.Second))
	hello, err := desktopctl.Read(s)
	if err != nil || hello.Type != desktopctl.TypeHello || len(hello.Monitors) != 2 {
		t.Fatalf("hello %+v (%v): want two monitors", hello, err)
	}
	if m := hello.Monitors; m[0].Name != "Meta-0" || m[0].Width != 1280 || m[1].Name != "Meta-1" || m[1].Width != 800 || m[1].Height != 600 {
		t.Fatalf("monitors %+v", m)
	}
	// waitSize reads stats until the stream has the size, and fails on a refusal.
	waitSize := func(w, h int) {
		t.Helper()
		for {
			m, err := desktopctl.Read(s)
			if err != nil {
				t.Fatalf("waiting for a %dx%d stream: %v", w, h, err)
			}
			if m.Type == desktopctl.TypeError {
				t.Fatalf("refused: %s", m.Error)
			}
			if m.Type == desktopctl.TypeStats && m.Stats.Width == w && m.Stats.Height == h {
				return
			}
		}
	}
	waitSize(2080, 720) // the whole desktop by default, as on X11
	for _, sw := range []struct{ mon, w, h int }{{1, 800, 600}, {0, 1280, 720}, {-1, 2080, 720}, {1, 800, 600}} {
		mon := sw.mon
		desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeMonitor, Monitor: &mon})
		waitSize(sw.w, sw.h)
	}
	// A quality change on a static screen: the viewer moves to a new stream of the same
	// monitor, which must get a picture without waiting for the screen to change.
	t0 := time.Now()
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeQuality, Preset: "low"})
	mon0 := 0
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeMonitor, Monitor: &mon0})
	waitSize(1280, 720)
	t.Logf("quality change and switch took %v", time.Since(t0))
	two := 2
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeMonitor, Monitor: &two})
	for {
		m, err := desktopctl.Read(s)
		if err != nil {
			t.Fatalf("waiting for the monitor refusal: %v", err)
		}
		if m.Type == desktopctl.TypeError {
			t.Log(m.Error)
			break
		}
	}
}

// TestMutterVirtualMonitors: --virtual-display with several sizes and --backend mutter starts
// a headless GNOME with a monitor of each size, left to right, the first one primary and the
// default; a bad size is an error that says what to write.
func TestMutterVirtualMonitors(t *testing.T) {
	if _, err := headlessSizes("1280x720,big"); err == nil || !strings.Contains(err.Error(), "WIDTHxHEIGHT") {
		t.Errorf("a bad size: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := startDesktop(ctx, DesktopConfig{Backend: BackendMutter, VirtualDisplay: "1024x768, 640x480", Monitor: -1}, slog.New(slog.DiscardHandler))
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	mons, err := d.monitors()
	if err != nil {
		t.Fatal(err)
	}
	if len(mons) != 2 || mons[0].Width != 1024 || mons[0].Height != 768 || !mons[0].Primary ||
		mons[1].X != 1024 || mons[1].Width != 640 || mons[1].Height != 480 {
		t.Fatalf("monitors %+v", mons)
	}
}
