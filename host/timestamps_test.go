//go:build linux && cgo

package host

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// TestVideoTimestampsFollowFrames: each frame's RTP timestamp is its own send time, so frames
// that come at irregular intervals (the screen changes now and then; a compositor's frames)
// arrive as far apart as their timestamps say. A frame stamped with its predecessor's time
// looks to the browser's jitter buffer like network jitter of the difference, and it holds
// every frame longer.
func TestVideoTimestampsFollowFrames(t *testing.T) {
	testenv.LookPath(t, "Xvfb")
	testenv.LookPath(t, "xdotool")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	dir := t.TempDir()
	keyPath := filepath.Join(dir, "viewer.key")
	k, _, err := identity.LoadOrCreateKey(keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, []byte(identity.AuthorizedLine(k.Public().(ed25519.PublicKey), "ts")+"\n"), 0o600); err != nil {
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

	conn, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: keyPath, HostID: a.ID(),
		Session: session.Config{LoopbackOnly: true, Video: &session.VideoConfig{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	track := <-conn.Tracks
	keys := 0
	if err := waitKeyframes(track, &keys, 1); err != nil {
		t.Fatal(err)
	}

	// The pointer moves (the capture draws it in: a new frame) after pauses of 100 and 500 ms
	// in turn, in a goroutine, while this one reads the frames as they come.
	moves := make(chan error, 1)
	go func() {
		for i := range 8 {
			gap := 100 * time.Millisecond
			if i%2 == 1 {
				gap = 500 * time.Millisecond
			}
			select {
			case <-time.After(gap):
			case <-ctx.Done():
				moves <- ctx.Err()
				return
			}
			cmd := exec.Command("xdotool", "mousemove", fmt.Sprint(20+20*i), fmt.Sprint(20+10*i))
			cmd.Env = append(os.Environ(), "DISPLAY="+srv.Display())
			if out, err := cmd.CombinedOutput(); err != nil {
				moves <- fmt.Errorf("xdotool: %v: %s", err, out)
				return
			}
		}
		moves <- nil
	}()
	type frame struct {
		ts      uint32
		arrived time.Time
	}
	var frames []frame
	track.SetReadDeadline(time.Now().Add(20 * time.Second))
	done := false
	for !done {
		p, _, err := track.ReadRTP()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		if len(frames) == 0 || frames[len(frames)-1].ts != p.Timestamp {
			frames = append(frames, frame{p.Timestamp, time.Now()})
		}
		select {
		case err := <-moves:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
	}
	if len(frames) < 6 {
		t.Fatalf("only %d frames for 8 pointer moves", len(frames))
	}
	// Loopback and a busy machine add some jitter of their own; a frame stamped with its
	// predecessor's interval is off by the 400 ms the pauses differ.
	worst := 0.0
	for i := 1; i < len(frames); i++ {
		byTS := float64(frames[i].ts-frames[i-1].ts) / 90 // ms at 90 kHz
		byArrival := float64(frames[i].arrived.Sub(frames[i-1].arrived)) / 1e6
		worst = max(worst, math.Abs(byTS-byArrival))
		t.Logf("frame %d: %.0f ms after the previous by its timestamp, %.0f ms by its arrival", i, byTS, byArrival)
	}
	if worst > 100 {
		t.Fatalf("a frame's timestamp is %.0f ms off from its arrival's distance to the previous frame", worst)
	}
}
