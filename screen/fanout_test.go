//go:build cgo

package screen_test

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/testpic"
	"github.com/deskport/deskport/screen/vp8"
)

// movingCapturer returns a changing picture on every capture (a video playing), and counts
// captures and closes.
type movingCapturer struct {
	n      atomic.Int64
	closed atomic.Int64
	f      *screen.Frame
}

func (c *movingCapturer) Capture() (*screen.Frame, error) {
	i := int(c.n.Add(1))
	c.f = testpic.Moving(c.f, 160, 96, i)
	f := *c.f
	f.Changed = true
	return &f, nil
}

func (c *movingCapturer) Close() error { c.closed.Add(1); return nil }

// recorder is one viewer's end: it keeps what it was written.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
	gate   chan struct{} // when set, each write waits for it
	got    chan struct{} // a frame arrived (capacity 1)
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1)} }

func (r *recorder) write(data []byte, _ time.Duration) error {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.frames = append(r.frames, append([]byte(nil), data...))
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

func (r *recorder) snapshot() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...)
}

// waitFrames waits until r has at least n frames.
func (r *recorder) waitFrames(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for r.count() < n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d frames after 20 s, want %d", r.count(), n)
		}
	}
}

func isVP8Key(data []byte) bool { return len(data) > 0 && data[0]&1 == 0 }

func newFanout(t *testing.T, c *movingCapturer, encoders *atomic.Int64) *screen.Fanout {
	t.Helper()
	f, err := screen.NewFanout(screen.StreamConfig{
		Capturer: c, FPS: 60, Refresh: time.Hour,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			encoders.Add(1)
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 60, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Two viewers of one Fanout get the same encoded frames from one capture and one encoder, each
// starting with a keyframe; the second's join costs the first exactly one extra keyframe; the
// last one out stops capture and closes the capturer.
func TestFanoutSharesOneEncode(t *testing.T) {
	c := &movingCapturer{}
	var encoders atomic.Int64
	f := newFanout(t, c, &encoders)
	a, b := newRecorder(), newRecorder()
	va, err := f.Join(a.write)
	if err != nil {
		t.Fatal(err)
	}
	a.waitFrames(t, 20)
	vb, err := f.Join(b.write)
	if err != nil {
		t.Fatal(err)
	}
	b.waitFrames(t, 30)
	va.Leave()
	vb.Leave()
	select {
	case <-f.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not stop after the last viewer left")
	}
	if c.closed.Load() != 1 {
		t.Fatalf("capturer closed %d times, want 1", c.closed.Load())
	}
	if _, err := f.Join(newRecorder().write); !errors.Is(err, screen.ErrFanoutClosed) {
		t.Fatalf("Join after the end: %v, want ErrFanoutClosed", err)
	}
	if encoders.Load() != 1 {
		t.Fatalf("%d encoders for two viewers of one screen, want 1", encoders.Load())
	}
	fa, fb := a.snapshot(), b.snapshot()
	if !isVP8Key(fa[0]) || !isVP8Key(fb[0]) {
		t.Fatal("a viewer's first frame is not a keyframe")
	}
	// b's frames are a run of a's, from the keyframe b joined on.
	start := -1
	for i := range fa {
		if bytes.Equal(fa[i], fb[0]) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("the second viewer's first frame is not among the first viewer's: encoded twice")
	}
	keysA := 0
	for i, d := range fa {
		if isVP8Key(d) {
			keysA++
		}
		if i >= start && i-start < len(fb) && !bytes.Equal(d, fb[i-start]) {
			t.Fatalf("frame %d differs between the viewers", i)
		}
	}
	if keysA != 2 {
		t.Fatalf("first viewer got %d keyframes, want 2 (its own start and the second's join)", keysA)
	}
	st := f.Stream()
	if st.Encoded.Load() > int64(len(fa))+1 {
		t.Fatalf("%d frames encoded, first viewer got %d: frames were encoded per viewer", st.Encoded.Load(), len(fa))
	}
}

// A viewer whose writes stall drops its own frames without holding up the others, is reported
// lagging after repeated overflows, and resumes on a keyframe once its writes flow again.
func TestFanoutSlowViewerDoesNotStallOthers(t *testing.T) {
	c := &movingCapturer{}
	var encoders atomic.Int64
	f := newFanout(t, c, &encoders)
	fast, slow := newRecorder(), newRecorder()
	slow.gate = make(chan struct{})
	vf, err := f.Join(fast.write)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Leave()
	vs, err := f.Join(slow.write)
	if err != nil {
		t.Fatal(err)
	}
	// While slow is stuck in its first write, fast keeps getting frames — far more than the
	// per-viewer queue holds.
	fast.waitFrames(t, 60)
	select {
	case <-vs.Lagging():
	case <-time.After(20 * time.Second):
		t.Fatal("a viewer stuck for 60 frames was not reported lagging")
	}
	n := slow.count()
	close(slow.gate) // unblock: every write now passes
	slow.waitFrames(t, n+20)
	vs.Leave()
	frames := slow.snapshot()
	// After the queued frames drain, the next delivered frame is a keyframe: find the gap.
	sawResume := false
	for i := 1; i < len(frames); i++ {
		if isVP8Key(frames[i]) {
			sawResume = true
			break
		}
	}
	if !sawResume {
		t.Fatal("the stalled viewer never got a keyframe to resume from")
	}
	if encoders.Load() != 1 {
		t.Fatalf("%d encoders, want 1", encoders.Load())
	}
}

// The shared bitrate follows the slowest viewer that is not lagging; one far below the best is
// reported lagging after 2 s and stops pulling the others down.
func TestFanoutBitrateFollowsViewers(t *testing.T) {
	c := &movingCapturer{}
	var encoders atomic.Int64
	f := newFanout(t, c, &encoders)
	a, b := newRecorder(), newRecorder()
	va, err := f.Join(a.write)
	if err != nil {
		t.Fatal(err)
	}
	defer va.Leave()
	vb, err := f.Join(b.write)
	if err != nil {
		t.Fatal(err)
	}
	defer vb.Leave()
	va.SetBitrate(4_000_000)
	vb.SetBitrate(3_000_000)
	if got := f.Stream().Bitrate(); got != 3_000_000 {
		t.Fatalf("shared bitrate %d, want the lower estimate 3000000", got)
	}
	// b's path gets much worse: the shared rate follows at first, then b is lagging and a's
	// picture goes back up.
	vb.SetBitrate(500_000)
	if got := f.Stream().Bitrate(); got != 500_000 {
		t.Fatalf("shared bitrate %d, want 500000 before b counts as lagging", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		va.SetBitrate(4_000_000)
		vb.SetBitrate(500_000)
		select {
		case <-vb.Lagging():
		default:
			if time.Now().After(deadline) {
				t.Fatal("a viewer at 1/8 of the best estimate was not reported lagging within 10 s")
			}
			<-tick.C
			continue
		}
		break
	}
	select {
	case <-va.Lagging():
		t.Fatal("the viewer with the best path was reported lagging")
	default:
	}
	if got := f.Stream().Bitrate(); got != 4_000_000 {
		t.Fatalf("shared bitrate %d after b lags, want a's 4000000", got)
	}
}
