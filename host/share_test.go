//go:build linux && cgo

package host

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/rtp/codecs"

	"github.com/deskport/deskport/desktopctl"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// TestViewersShareOneStream: two viewers of one host at the host's settings watch one stream
// (one capture, one encoder) and both get video; a viewer that picks another quality moves to a
// stream of its own and keeps getting video while the other carries on; when both leave, every
// stream stops.
func TestViewersShareOneStream(t *testing.T) {
	testenv.LookPath(t, "Xvfb")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	dir := t.TempDir()
	var lines []byte
	keyPaths := make([]string, 2)
	for i := range keyPaths {
		keyPaths[i] = filepath.Join(dir, "viewer"+string(rune('a'+i))+".key")
		k, _, err := identity.LoadOrCreateKey(keyPaths[i], "")
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, identity.AuthorizedLine(k.Public().(ed25519.PublicKey), "share")+"\n"...)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), AuthorizedViewersPath: authorized,
		Desktop: DesktopConfig{Display: srv.Display(), Monitor: -1}, Session: session.Config{LoopbackOnly: true},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, runCancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(runCtx) }()
	defer func() { runCancel(); <-runDone }()
	waitOnline(t, rvURL, a.ID())

	conns := make([]*session.ViewerConn, 2)
	tracks := make([]*webrtc.TrackRemote, 2)
	keys := make([]int, 2) // keyframes each viewer has seen
	for i := range conns {
		conns[i], err = viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: keyPaths[i], HostID: a.ID(),
			Session: session.Config{LoopbackOnly: true, Video: &session.VideoConfig{}}})
		if err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
		defer conns[i].Close()
		select {
		case tracks[i] = <-conns[i].Tracks:
		case <-time.After(15 * time.Second):
			t.Fatalf("viewer %d: no video track", i)
		}
		if err := waitKeyframes(tracks[i], &keys[i], 1); err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
	}
	streams := func() map[shareKey]int {
		a.desk.mu.Lock()
		defer a.desk.mu.Unlock()
		m := map[shareKey]int{}
		for k, s := range a.desk.streams {
			m[k] = s.fan.Viewers()
		}
		return m
	}
	waitStreams := func(what string, ok func(map[shareKey]int) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok(streams()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: streams %v", what, streams())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	def := a.desk.defaultKey()
	waitStreams("two viewers at the host's settings should share one stream", func(m map[shareKey]int) bool {
		return len(m) == 1 && m[def] == 2
	})
	// The second viewer's join gave the first a second keyframe: it is watching the same
	// encoder's output.
	if err := waitKeyframes(tracks[0], &keys[0], 2); err != nil {
		t.Fatalf("first viewer: %v", err)
	}

	// The second viewer asks for the "low" preset: it moves to a stream of its own.
	s, _, err := mux.Open(ctx, conns[1].Interactive, mux.Request{Kind: mux.KindControl, Payload: []byte{desktopctl.Version}})
	if err != nil {
		t.Fatalf("open control: %v", err)
	}
	defer s.Close()
	if m, err := desktopctl.Read(s); err != nil || m.Type != desktopctl.TypeHello {
		t.Fatalf("hello: %+v %v", m, err)
	}
	desktopctl.Write(s, &desktopctl.Message{Type: desktopctl.TypeQuality, Preset: "low"})
	low := def
	low.fps, low.maxBitrate = desktopctl.Presets["low"].FPS, min(desktopctl.Presets["low"].MaxBitrate, a.desk.maxBitrate())
	waitStreams("a viewer that changed its quality should have moved to its own stream", func(m map[shareKey]int) bool {
		return len(m) == 2 && m[def] == 1 && m[low] == 1
	})
	// The moved viewer starts its new stream on a keyframe.
	if err := waitKeyframes(tracks[1], &keys[1], 2); err != nil {
		t.Fatalf("second viewer after its move: %v", err)
	}

	// Both leave: no stream keeps capturing.
	for _, c := range conns {
		c.Close()
	}
	waitStreams("every stream should stop when its viewers leave", func(m map[shareKey]int) bool { return len(m) == 0 })
}

// waitKeyframes reads a VP8 track until it has seen n keyframes since it was opened (counting
// seen): a keyframe is sent when a viewer joins a stream or moves to another, so the count
// proves which streams a viewer was given.
func waitKeyframes(tr *webrtc.TrackRemote, seen *int, n int) error {
	tr.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer tr.SetReadDeadline(time.Time{})
	for *seen < n {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return fmt.Errorf("%d keyframes, want %d: %w", *seen, n, err)
		}
		var vp8 codecs.VP8Packet
		payload, err := vp8.Unmarshal(p.Payload)
		if err != nil {
			return fmt.Errorf("VP8 payload: %w", err)
		}
		if vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && payload[0]&1 == 0 {
			*seen++
		}
	}
	return nil
}
