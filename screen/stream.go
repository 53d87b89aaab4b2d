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
// sends a frame when the screen changes). A Stream captures such a frame when it arrives, and
// does not poll it: it captures otherwise only for a keyframe request, a retry and the refresh,
// so a static screen costs no wake-ups between refreshes. A frame that arrives less than half a
// frame interval after the previous new frame was taken waits for the rest of that half
// interval. A nil channel announces nothing (the Stream then polls FPS times a second).
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

	// Counters for stats, benchmarks and tests: captures, frames written, their bytes,
	// keyframes, and frames converted and encoded (Encode, not Reencoder.EncodeAgain).
	Captured, Encoded, Bytes, Keyframes, Converted atomic.Int64
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
//
// A polled capturer (X11) is captured at every tick, FPS times a second; a frame that did not
// change is not encoded. A FrameNotifier is captured when it announces a frame, and wake
// schedules the rest: a retry, and the refresh. A refresh or keyframe of an unchanged picture
// re-encodes the encoder's converted picture (Reencoder) instead of converting the frame again.
func (s *Stream) run(ctx context.Context, write func(data []byte, d time.Duration, key bool) error) error {
	r := &runState{capt: s.cfg.Capturer, fps: s.cfg.FPS, tick: time.NewTicker(time.Second / time.Duration(s.cfg.FPS))}
	r.frames = framesOf(r.capt)
	var (
		l        = &streamLoop{lastWrite: time.Now(), wantKey: true, log: s.cfg.Logger}
		interval = func() time.Duration { return time.Second / time.Duration(r.fps) }
		wake     = time.NewTimer(0) // the first capture, at once
	)
	if r.frames != nil {
		r.tick.Stop()
	}
	// wake fires at once for the first capture either way: a polled capturer's first frame
	// does not wait for the first tick (up to a frame interval). Nothing re-arms it for a
	// polled capturer after that.
	defer r.tick.Stop()
	defer wake.Stop()
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
			l.wantKey = true
		case f := <-s.changes:
			f(r)
			r.frames = framesOf(r.capt)
			l.wantKey, l.encHas = true, false
			if r.frames != nil {
				r.tick.Stop()
				wake.Reset(0)
			} else {
				wake.Stop()
				r.tick.Reset(interval())
			}
			continue
		case <-r.tick.C:
		case <-wake.C:
		case <-r.frames:
			// A frame arrived: take it now, unless the previous new frame was taken less than
			// half a frame interval ago (a producer faster than the frame rate waits for the
			// rest). A capture that found nothing new (a refresh, a keyframe) does not count:
			// it would hold back the frame that arrives just after it.
			if since := time.Since(l.lastChanged); since < interval()/2 {
				wake.Reset(interval()/2 - since)
				continue
			}
		}
		retry, err := s.step(r, l, write)
		if err != nil {
			return err
		}
		if r.frames != nil {
			// Not polled: wake for a retry (a failed capture, a keyframe the encoder
			// dropped), else for the refresh (a frame's time from now at the soonest, should
			// the encoder drop the refresh).
			if retry || l.wantKey {
				wake.Reset(interval())
			} else {
				wake.Reset(max(time.Until(l.lastWrite.Add(s.cfg.Refresh)), interval()))
			}
		}
	}
}

// streamLoop is run's state that step reads and updates.
type streamLoop struct {
	w, h, encRate int
	lastWrite     time.Time
	wantKey       bool
	// encHas: the encoder's converted picture is the capturer's current one (it encoded the
	// last changed frame), so an unchanged frame can be encoded again without converting it.
	encHas       bool
	captureFails int
	lastChanged  time.Time // when the last capture that found a new frame began
	log          *slog.Logger
}

// step captures one frame and encodes and writes it if it changed, a keyframe is wanted or the
// refresh is due. retry says the capture failed (try again at the next frame time).
func (s *Stream) step(r *runState, l *streamLoop, write func(data []byte, d time.Duration, key bool) error) (retry bool, err error) {
	started := time.Now()
	f, err := r.capt.Capture()
	if err != nil {
		l.captureFails++
		l.encHas = false
		if l.captureFails == 1 || l.captureFails%100 == 0 {
			l.log.Warn("screen capture failed", "err", err, "failures", l.captureFails)
		}
		if l.captureFails >= 300 {
			return true, fmt.Errorf("screen: capture keeps failing: %w", err)
		}
		return true, nil
	}
	l.captureFails = 0
	s.Captured.Add(1)
	if f.Changed {
		l.lastChanged = started
	}
	if r.enc == nil || f.Width != l.w || f.Height != l.h {
		if r.enc != nil {
			r.enc.Close()
		}
		l.w, l.h = f.Width, f.Height
		l.encRate = int(s.bitrate.Load())
		if r.enc, err = s.cfg.NewEncoder(l.w, l.h, l.encRate); err != nil {
			return false, fmt.Errorf("screen: encoder for %dx%d: %w", l.w, l.h, err)
		}
		l.log.Info("encoding screen", "width", l.w, "height", l.h, "bitrate", l.encRate)
		l.wantKey, l.encHas = true, false
	}
	if !f.Changed && !l.wantKey && time.Since(l.lastWrite) < s.cfg.Refresh {
		return false, nil
	}
	if rate := int(s.bitrate.Load()); rate != l.encRate {
		if err := r.enc.SetBitrate(rate); err != nil {
			l.log.Debug("setting bitrate", "err", err)
		}
		l.encRate = rate
	}
	// A request that arrived while this frame was captured is for this frame: the select in
	// run picks at random among ready cases, so a tick taken over a waiting request would
	// otherwise delay the keyframe by one frame.
	select {
	case <-s.keyframe:
		l.wantKey = true
	default:
	}
	encStart := time.Now()
	var (
		data  []byte
		isKey bool
	)
	if re, ok := r.enc.(Reencoder); ok && !f.Changed && l.encHas {
		data, isKey, err = re.EncodeAgain(l.wantKey)
	} else {
		data, isKey, err = r.enc.Encode(f, l.wantKey)
		s.Converted.Add(1)
	}
	encTime := time.Since(encStart)
	if err != nil {
		return false, fmt.Errorf("screen: encode: %w", err)
	}
	l.encHas = true
	if data == nil {
		return false, nil
	}
	if isKey {
		l.wantKey = false
		s.Keyframes.Add(1)
	}
	now := time.Now()
	if err := write(data, now.Sub(l.lastWrite), isKey); err != nil {
		return false, err
	}
	l.lastWrite = now
	s.Encoded.Add(1)
	s.Bytes.Add(int64(len(data)))
	if s.cfg.OnFrame != nil {
		s.cfg.OnFrame(FrameStats{Bytes: len(data), Keyframe: isKey, Encode: encTime, Bitrate: l.encRate})
	}
	return false, nil
}
