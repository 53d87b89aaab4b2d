package screen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultMaxBitrate caps a stream's bitrate when the host sets no --max-bitrate; congestion
// control goes lower on its own.
const DefaultMaxBitrate = 6_000_000

// StreamConfig describes one screen stream.
type StreamConfig struct {
	// Capturer grabs the frames; the Stream does not close it.
	Capturer Capturer
	// NewEncoder makes an encoder for a frame size; it is called again when the size changes.
	NewEncoder func(width, height, bitrate int) (Encoder, error)
	// FPS is the capture rate; zero means 30.
	FPS int
	// MaxBitrate caps the bitrate, in bits per second; zero means 6 Mbit/s.
	MaxBitrate int
	// InitialBitrate is the bitrate before the congestion controller has an estimate; zero
	// means min(MaxBitrate, 2 Mbit/s).
	InitialBitrate int
	// Refresh is the longest time a static screen goes without an encoded frame; zero means 5 s.
	// Lost frames are repaired by NACK and a viewer that lost the picture asks for a keyframe
	// (PLI), so the refresh is only a safety net; at 1080p each one costs about 10 ms of CPU.
	// A static screen costs no encoding between refreshes.
	Refresh time.Duration
	// Logger receives stream events; nil discards them.
	Logger *slog.Logger
	// OnFrame, when set, is called on the stream's goroutine after each encoded frame is
	// written, for metrics; it must not block.
	OnFrame func(FrameStats)
}

// FrameStats describe one encoded and written frame.
type FrameStats struct {
	// Bytes is the encoded size; Keyframe says it was a keyframe.
	Bytes    int
	Keyframe bool
	// Encode is the time the encoder took for this frame.
	Encode time.Duration
	// Bitrate is the target bitrate the encoder had, in bits per second.
	Bitrate int
}

// FrameNotifier is a Capturer that announces its frames (pipewire.Capturer: the compositor
// sends a frame when the screen changes). A Stream captures such a frame when it arrives
// instead of at its next tick, so that it waits for no tick (up to a frame interval of
// latency); the ticks go on, for keyframes and refreshes. A nil channel announces nothing.
type FrameNotifier interface {
	Frames() <-chan struct{}
}

func framesOf(c Capturer) <-chan struct{} {
	if n, ok := c.(FrameNotifier); ok {
		return n.Frames()
	}
	return nil
}

// Stream paces a Capturer and an Encoder: it captures FPS times a second, encodes what changed
// (or a keyframe when asked), and hands each encoded frame to a writer.
type Stream struct {
	cfg      StreamConfig
	keyframe chan struct{}
	bitrate  atomic.Int64
	maxRate  atomic.Int64
	changes  chan func(*runState) // applied on the Run goroutine

	// Counters for stats and benchmarks.
	Captured, Encoded, Bytes, Keyframes atomic.Int64
}

// NewStream checks cfg and returns a stream ready to Run.
func NewStream(cfg StreamConfig) (*Stream, error) {
	if cfg.Capturer == nil || cfg.NewEncoder == nil {
		return nil, errors.New("screen: stream needs a Capturer and an encoder factory")
	}
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.FPS > 120 {
		return nil, fmt.Errorf("screen: --fps %d is above 120", cfg.FPS)
	}
	if cfg.MaxBitrate <= 0 {
		cfg.MaxBitrate = DefaultMaxBitrate
	}
	if cfg.InitialBitrate <= 0 {
		cfg.InitialBitrate = min(cfg.MaxBitrate, 2_000_000)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stream{cfg: cfg, keyframe: make(chan struct{}, 1), changes: make(chan func(*runState), 8)}
	s.bitrate.Store(int64(cfg.InitialBitrate))
	s.maxRate.Store(int64(cfg.MaxBitrate))
	return s, nil
}

// runState is what Run owns and the change requests may touch.
type runState struct {
	capt   Capturer
	frames <-chan struct{} // capt's frame announcements (FrameNotifier), or nil
	fps    int
	tick   *time.Ticker
	enc    Encoder // closed and recreated when the capturer changes
}

// SetFPS changes the capture rate (1..120) from the next frame on.
func (s *Stream) SetFPS(fps int) {
	fps = min(max(fps, 1), 120)
	s.change(func(r *runState) {
		r.fps = fps
		r.tick.Reset(time.Second / time.Duration(fps))
	})
}

// SetMaxBitrate lowers (or raises, up to the configured cap) the bitrate ceiling.
func (s *Stream) SetMaxBitrate(bps int) {
	bps = min(max(bps, 100_000), s.cfg.MaxBitrate)
	s.maxRate.Store(int64(bps))
	if s.bitrate.Load() > int64(bps) {
		s.bitrate.Store(int64(bps))
	}
}

// SetCapturer switches to another capturer (another monitor) from the next frame on; the stream
// starts it with a keyframe. The caller closes the old capturer after Run returns or after the
// next change; the Stream hands the replaced one to done.
func (s *Stream) SetCapturer(c Capturer, done func(old Capturer)) {
	s.change(func(r *runState) {
		old := r.capt
		r.capt = c
		if r.enc != nil {
			r.enc.Close()
			r.enc = nil
		}
		if done != nil {
			done(old)
		}
	})
}

func (s *Stream) change(f func(*runState)) {
	select {
	case s.changes <- f:
	default: // a burst of changes: the newest ones win on the next call
	}
}

// RequestKeyframe makes the next encoded frame a keyframe (the viewer lost the picture).
func (s *Stream) RequestKeyframe() {
	select {
	case s.keyframe <- struct{}{}:
	default:
	}
}

// SetBitrate sets the target bitrate (from the congestion controller), capped at the current
// ceiling.
func (s *Stream) SetBitrate(bps int) {
	s.bitrate.Store(int64(min(max(bps, 50_000), int(s.maxRate.Load()))))
}

// Bitrate is the target bitrate the encoder is given, in bits per second.
func (s *Stream) Bitrate() int { return int(s.bitrate.Load()) }

// Run streams until ctx is done or write fails. write receives one encoded frame and the time
// since the previous one; it must not keep data.
func (s *Stream) Run(ctx context.Context, write func(data []byte, d time.Duration) error) error {
	return s.run(ctx, func(data []byte, d time.Duration, _ bool) error { return write(data, d) })
}

// run is Run with whether each frame is a keyframe, for Fanout.
func (s *Stream) run(ctx context.Context, write func(data []byte, d time.Duration, key bool) error) error {
	r := &runState{capt: s.cfg.Capturer, fps: s.cfg.FPS, tick: time.NewTicker(time.Second / time.Duration(s.cfg.FPS))}
	r.frames = framesOf(r.capt)
	var (
		lastChanged  time.Time // when the last capture that found a new frame began
		w, h         int
		encRate      int
		lastWrite    = time.Now()
		wantKey      = true
		log          = s.cfg.Logger
		captureFails int
	)
	defer r.tick.Stop()
	defer func() {
		if r.enc != nil {
			r.enc.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.keyframe:
			wantKey = true
		case f := <-s.changes:
			f(r)
			r.frames = framesOf(r.capt)
			wantKey = true
			continue
		case <-r.tick.C:
		case <-r.frames:
			// A frame arrived: take it now, unless the previous new frame was taken less than
			// half a frame interval ago (a producer faster than the frame rate waits for the
			// tick). A tick that found nothing new does not count: it would hold back the frame
			// that arrives just after it by up to a whole interval.
			if time.Since(lastChanged) < time.Second/time.Duration(2*r.fps) {
				continue
			}
		}
		captured := time.Now()
		f, err := r.capt.Capture()
		if err != nil {
			captureFails++
			if captureFails == 1 || captureFails%100 == 0 {
				log.Warn("screen capture failed", "err", err, "failures", captureFails)
			}
			if captureFails >= 300 {
				return fmt.Errorf("screen: capture keeps failing: %w", err)
			}
			continue
		}
		captureFails = 0
		s.Captured.Add(1)
		if f.Changed {
			lastChanged = captured
		}
		if r.enc == nil || f.Width != w || f.Height != h {
			if r.enc != nil {
				r.enc.Close()
			}
			w, h = f.Width, f.Height
			encRate = int(s.bitrate.Load())
			if r.enc, err = s.cfg.NewEncoder(w, h, encRate); err != nil {
				return fmt.Errorf("screen: encoder for %dx%d: %w", w, h, err)
			}
			log.Info("encoding screen", "width", w, "height", h, "bitrate", encRate)
			wantKey = true
		}
		if !f.Changed && !wantKey && time.Since(lastWrite) < s.cfg.Refresh {
			continue
		}
		if rate := int(s.bitrate.Load()); rate != encRate {
			if err := r.enc.SetBitrate(rate); err != nil {
				log.Debug("setting bitrate", "err", err)
			}
			encRate = rate
		}
		// A request that arrived while this frame was captured is for this frame: the select
		// above picks at random among ready cases, so a tick taken over a waiting request
		// would otherwise delay the keyframe by one frame.
		select {
		case <-s.keyframe:
			wantKey = true
		default:
		}
		encStart := time.Now()
		data, isKey, err := r.enc.Encode(f, wantKey)
		encTime := time.Since(encStart)
		if err != nil {
			return fmt.Errorf("screen: encode: %w", err)
		}
		if data == nil {
			continue
		}
		if isKey {
			wantKey = false
			s.Keyframes.Add(1)
		}
		now := time.Now()
		if err := write(data, now.Sub(lastWrite), isKey); err != nil {
			return err
		}
		lastWrite = now
		s.Encoded.Add(1)
		s.Bytes.Add(int64(len(data)))
		if s.cfg.OnFrame != nil {
			s.cfg.OnFrame(FrameStats{Bytes: len(data), Keyframe: isKey, Encode: encTime, Bitrate: encRate})
		}
	}
}
