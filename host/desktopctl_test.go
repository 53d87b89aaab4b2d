//go:build linux && cgo

package host

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/desktopctl"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// TestControlStream: through a real session, the viewer gets the host's monitors, asks for a
// keyframe (the host's keyframe count rises in its stats), a quality preset, and a monitor the
// host does not have (a clear refusal).
func TestControlStream(t *testing.T) {
	testenv.LookPath(t, "Xvfb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	dir := t.TempDir()
	a, err := New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), Code: true,
		CodeGrants: Caps{View: true}, Desktop: DesktopConfig{Display: srv.Display(), Monitor: -1},
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
	s.SetDeadline(time.Now().Add(30 * time.Second))
	hello, err := desktopctl.Read(s)
	if err != nil || hello.Type != desktopctl.TypeHello || len(hello.Monitors) != 1 || hello.Monitors[0].Width != 640 {
		t.Fatalf("hello %+v (%v): want one 640-wide monitor", hello, err)
	}
	nextStats := func() *desktopctl.Stats {
		for {
			m, err := desktopctl.Read(s)
			if err != nil {
				t.Fatalf("reading stats: %v", err)
			}
			if m.Type == desktopctl.TypeStats {
				return m.Stats
			}
		}
	}
	before := nextStats().Keyframes
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeKeyframe})
	for st := nextStats(); st.Keyframes <= before; st = nextStats() {
	}
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeQuality, Preset: "low"})
	five := 5
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeMonitor, Monitor: &five})
	for {
		m, err := desktopctl.Read(s)
		if err != nil {
			t.Fatalf("waiting for the monitor refusal: %v", err)
		}
		if m.Type == desktopctl.TypeError {
			if m.Error == "" {
				t.Fatal("an empty refusal")
			}
			break
		}
	}
}
