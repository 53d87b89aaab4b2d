//go:build cgo

package screen_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/vp8"
)

// scriptedCapturer produces in-memory frames: changed[i] says whether capture i differs from
// the previous one, sizes[i] (when set) its size. After the script it cancels the stream.
type scriptedCapturer struct {
	changed []bool
	sizes   map[int][2]int
	cancel  context.CancelFunc
	n       int
	frame   screen.Frame
}

func (c *scriptedCapturer) Capture() (*screen.Frame, error) {
	i := c.n
	c.n++
	if i >= len(c.changed) {
		c.cancel()
		f := c.frame
		f.Changed = false
		return &f, nil
	}
	w, h := 320, 240
	if c.frame.Width != 0 {
		w, h = c.frame.Width, c.frame.Height
	}
	if s, ok := c.sizes[i]; ok {
		w, h = s[0], s[1]
	}
	if w != c.frame.Width || h != c.frame.Height {
		c.frame = screen.Frame{Width: w, Height: h, Stride: 4 * w, Pix: make([]byte, 4*w*h)}
	}
	if c.changed[i] {
		for p := range c.frame.Pix {
			c.frame.Pix[p] = byte(p*7 + i*31)
		}
	}
	f := c.frame
	f.Changed = c.changed[i] || i == 0
	return &f, nil
}

func (c *scriptedCapturer) Close() error { return nil }

type written struct {
	key  bool
	size int
}

func runScript(t *testing.T, c *scriptedCapturer, onWrite func(i int, s *screen.Stream)) ([]written, *screen.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.cancel = cancel
	var encoders int
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: c, FPS: 120, Refresh: time.Hour,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			encoders++
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []written
	err = st.Run(ctx, func(data []byte, d time.Duration) error {
		out = append(out, written{key: data[0]&1 == 0, size: len(data)})
		if onWrite != nil {
			onWrite(len(out), st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// A static screen is encoded once and then costs nothing: no frame until something changes.
func TestStreamSkipsUnchangedFrames(t *testing.T) {
	changed := make([]bool, 40)
	changed[0], changed[20] = true, true
	out, st := runScript(t, &scriptedCapturer{changed: changed}, nil)
	if len(out) != 2 {
		t.Fatalf("encoded %d frames for 2 changes in 40 captures, want 2", len(out))
	}
	if st.Captured.Load() < 40 {
		t.Fatalf("captured %d times, want at least 40", st.Captured.Load())
	}
	if !out[0].key || out[1].key {
		t.Fatalf("keyframes %v, want only the first", out)
	}
	if got := st.Converted.Load(); got != 2 {
		t.Fatalf("converted %d frames for 2 changes, want 2", got)
	}
}

// A static screen's refreshes and keyframes re-encode the picture the encoder already holds:
// over 40 polled captures that each refresh (a refresh interval shorter than a tick) and a
// keyframe request, the one frame that changed is the only one converted.
func TestStreamStaticScreenConvertsOnce(t *testing.T) {
	changed := make([]bool, 40)
	changed[0] = true
	c := &scriptedCapturer{changed: changed}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.cancel = cancel
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: c, FPS: 120, Refresh: time.Nanosecond,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys int
	err = st.Run(ctx, func(data []byte, d time.Duration) error {
		if data[0]&1 == 0 {
			keys++
		}
		if st.Encoded.Load() == 10 {
			st.RequestKeyframe()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Encoded.Load(); n < 40 {
		t.Fatalf("encoded %d frames in 40 captures that were each due for a refresh", n)
	}
	if keys != 2 {
		t.Errorf("%d keyframes, want 2 (the first and the requested one)", keys)
	}
	if got := st.Converted.Load(); got != 1 {
		t.Errorf("converted %d frames of a screen that changed once, want 1", got)
	}
}

// A keyframe request makes the next encoded frame a keyframe, even on a static screen.
func TestStreamKeyframeOnRequest(t *testing.T) {
	changed := make([]bool, 30)
	for i := range 10 {
		changed[i] = true
	}
	out, st := runScript(t, &scriptedCapturer{changed: changed}, func(i int, s *screen.Stream) {
		if i == 5 {
			s.RequestKeyframe()
		}
	})
	keys := 0
	for i, w := range out {
		if w.key {
			keys++
			if i != 0 && i != 5 {
				t.Errorf("frame %d is a keyframe; only 0 and the requested 5 should be", i)
			}
		}
	}
	if keys != 2 || st.Keyframes.Load() != 2 {
		t.Fatalf("%d keyframes (%d counted), want 2: the first and the requested one", keys, st.Keyframes.Load())
	}
}

// A size change gets a new encoder and starts with a keyframe.
func TestStreamResize(t *testing.T) {
	changed := []bool{true, true, true, true, true, true}
	out, _ := runScript(t, &scriptedCapturer{changed: changed, sizes: map[int][2]int{3: {160, 120}}}, nil)
	if len(out) != 6 || !out[0].key || !out[3].key || out[1].key || out[4].key {
		t.Fatalf("frames %v: want keyframes exactly at 0 and at the resize (3)", out)
	}
}

// notifyingCapturer announces its frames (screen.FrameNotifier); a capture shows a change only
// after an announcement.
type notifyingCapturer struct {
	frames  chan struct{}
	pending atomic.Bool
	frame   screen.Frame
}

func (c *notifyingCapturer) Frames() <-chan struct{} { return c.frames }

func (c *notifyingCapturer) Capture() (*screen.Frame, error) {
	f := c.frame
	f.Changed = c.pending.Swap(false)
	return &f, nil
}

func (c *notifyingCapturer) Close() error { return nil }

// A capturer that announces its frames is not polled: on a static screen the stream captures
// only for the first frame, the refreshes and a keyframe request, and converts one picture.
// (At 120 fps a polled stream would capture about 12 times per refresh here.)
func TestStreamDoesNotPollAnnouncingCapturer(t *testing.T) {
	c := &notifyingCapturer{frames: make(chan struct{}, 1),
		frame: screen.Frame{Width: 320, Height: 240, Stride: 4 * 320, Pix: make([]byte, 4*320*240)}}
	c.pending.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: c, FPS: 120, Refresh: 100 * time.Millisecond,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys int
	err = st.Run(ctx, func(data []byte, d time.Duration) error {
		if data[0]&1 == 0 {
			keys++
		}
		switch st.Encoded.Load() {
		case 2: // the first refresh
			st.RequestKeyframe()
		case 5:
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Written: the first frame, a refresh, the requested keyframe, two more refreshes; the
	// write of the sixth (if any) races the cancel.
	if enc, capt := st.Encoded.Load(), st.Captured.Load(); capt > enc+1 {
		t.Errorf("captured %d times for %d frames written: the stream polls", capt, enc)
	}
	if keys != 2 {
		t.Errorf("%d keyframes, want 2 (the first and the requested one)", keys)
	}
	if got := st.Converted.Load(); got != 1 {
		t.Errorf("converted %d frames of a screen that changed once, want 1", got)
	}
}

// A frame the capturer announces is captured and encoded at once, not at the next tick.
func TestStreamCapturesAnnouncedFrames(t *testing.T) {
	c := &notifyingCapturer{frames: make(chan struct{}, 1),
		frame: screen.Frame{Width: 320, Height: 240, Stride: 4 * 320, Pix: make([]byte, 4*320*240)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One frame a second: the first tick comes after a second.
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: c, FPS: 1, Refresh: time.Hour,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.pending.Store(true)
	start := time.Now()
	c.frames <- struct{}{}
	var took time.Duration
	err = st.Run(ctx, func(data []byte, d time.Duration) error {
		took = time.Since(start)
		cancel()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if took == 0 || took >= time.Second {
		t.Fatalf("the announced frame was written after %v, want it before the first tick (1 s)", took)
	}
}

// A frame announced just after a tick that found nothing new is captured at once: only a new
// frame taken less than half an interval before holds the next one back to the tick (Mutter's
// frames come at their own pace, and a tick's empty capture used to delay the frame after it by
// up to a whole interval).
func TestStreamAnnouncedFrameAfterEmptyTick(t *testing.T) {
	c := &notifyingCapturer{frames: make(chan struct{}, 1),
		frame: screen.Frame{Width: 320, Height: 240, Stride: 4 * 320, Pix: make([]byte, 4*320*240)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two frames a second: a tick every 500 ms.
	st, err := screen.NewStream(screen.StreamConfig{
		Capturer: c, FPS: 2, Refresh: time.Hour,
		NewEncoder: func(w, h, bitrate int) (screen.Encoder, error) {
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		writes    int
		announced time.Time
		took      time.Duration
	)
	err = st.Run(ctx, func(data []byte, d time.Duration) error {
		writes++
		switch writes {
		case 1:
			// The first tick's keyframe, of a picture that did not change: a frame arrives now.
			announced = time.Now()
			c.pending.Store(true)
			c.frames <- struct{}{}
		case 2:
			took = time.Since(announced)
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if took == 0 || took >= 250*time.Millisecond {
		t.Fatalf("the frame announced after an empty tick was written after %v, want it at once (the next tick is 500 ms later)", took)
	}
}
