package screen

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrFanoutClosed is returned by Join once a Fanout's stream has ended.
var ErrFanoutClosed = errors.New("screen: the shared stream has ended")

// Fanout defaults.
const (
	// fanoutQueue is how many encoded frames wait for one viewer before it drops frames: at
	// 30 fps about a quarter of a second, far more than a healthy track write ever lags.
	fanoutQueue = 8
	// lagRatio and lagFor: a viewer whose bandwidth estimate stays below 1/lagRatio of the
	// best viewer's for lagFor is lagging — it would pull everyone's picture down.
	lagRatio = 2
	lagFor   = 2 * time.Second
	// overflowsToLag: this many queue overflows within overflowWindow make a viewer lagging
	// too (its writes cannot keep up, whatever its estimate says).
	overflowsToLag = 3
	overflowWindow = 10 * time.Second
	// keyframeGap is the shortest time between two keyframe requests from one viewer, so one
	// viewer's burst of picture-loss reports costs the others at most one keyframe.
	keyframeGap = 250 * time.Millisecond
)

// Fanout shares one Stream among the viewers that watch the same source at the same settings:
// the screen is captured and encoded once, and each encoded frame is handed to every viewer.
// A viewer that joins gets a keyframe (the others get it too — one keyframe per join); each
// viewer has its own small queue, so a slow one drops its own frames (and then waits for a
// keyframe) without stalling the rest; the shared bitrate follows the slowest viewer that is
// not lagging, and a viewer whose path is much worse than the others' is told so on Lagging,
// for the caller to move it to a stream of its own.
//
// The Fanout owns the capturer in its StreamConfig and closes it when the stream ends, which
// happens when the last viewer leaves.
type Fanout struct {
	st     *Stream
	capt   Capturer
	mu     sync.Mutex
	viewer map[*Viewer]struct{}
	state  fanoutState
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream has ended and the capturer is closed
	err    error         // why the stream ended, set before done closes
}

type fanoutState int

const (
	fanoutIdle fanoutState = iota
	fanoutRunning
	fanoutEnded
)

// NewFanout makes a Fanout for cfg; the stream starts with the first Join.
func NewFanout(cfg StreamConfig) (*Fanout, error) {
	st, err := NewStream(cfg)
	if err != nil {
		return nil, err
	}
	return &Fanout{st: st, capt: cfg.Capturer, viewer: map[*Viewer]struct{}{}, done: make(chan struct{})}, nil
}

// Stream is the shared stream, for its counters and settings (SetFPS, SetCapturer) that apply to
// every viewer of this Fanout.
func (f *Fanout) Stream() *Stream { return f.st }

// Viewers is the number of viewers joined.
func (f *Fanout) Viewers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.viewer)
}

// Done is closed when the stream has ended (the last viewer left, or capture or encoding failed)
// and the capturer is closed; Err then says why.
func (f *Fanout) Done() <-chan struct{} { return f.done }

// Err is why the stream ended: nil when the last viewer left.
func (f *Fanout) Err() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

// Join adds a viewer: write receives each encoded frame (starting with a keyframe) and the time
// since the viewer's previous frame, on a goroutine of the viewer's own; it must not keep data.
// The first Join starts the stream.
func (f *Fanout) Join(write func(data []byte, d time.Duration) error) (*Viewer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == fanoutEnded {
		return nil, ErrFanoutClosed
	}
	v := &Viewer{
		f: f, write: write, queue: make(chan fanFrame, fanoutQueue),
		needKey: true, lagging: make(chan struct{}), done: make(chan struct{}), stop: make(chan struct{}),
		lastKeyRq: time.Now(), // the keyframe this Join asks for below
	}
	f.viewer[v] = struct{}{}
	go v.deliver()
	if f.state == fanoutIdle {
		f.state = fanoutRunning
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		go f.run(ctx)
	} else {
		f.st.RequestKeyframe()
	}
	f.rebalanceLocked()
	return v, nil
}

// fanFrame is one encoded frame on its way to a viewer. data is shared by all viewers and never
// written after it is queued.
type fanFrame struct {
	data []byte
	at   time.Time
	key  bool
}

func (f *Fanout) run(ctx context.Context) {
	err := f.st.run(ctx, func(data []byte, _ time.Duration, key bool) error {
		// The encoder reuses its buffer: one copy, shared read-only by every viewer's queue.
		fr := fanFrame{data: append([]byte(nil), data...), at: time.Now(), key: key}
		f.mu.Lock()
		for v := range f.viewer {
			v.offer(fr)
		}
		f.mu.Unlock()
		return nil
	})
	f.capt.Close()
	f.mu.Lock()
	f.state = fanoutEnded
	f.err = err
	viewers := f.viewer
	f.viewer = map[*Viewer]struct{}{}
	f.mu.Unlock()
	for v := range viewers {
		v.end(err)
	}
	close(f.done)
}

// leave removes v; the last viewer out stops the stream.
func (f *Fanout) leave(v *Viewer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.viewer[v]; !ok {
		return
	}
	delete(f.viewer, v)
	if len(f.viewer) == 0 && f.state == fanoutRunning {
		// Ended from now on: a Join racing this gets ErrFanoutClosed (and starts a new
		// stream) rather than a place in one that is stopping.
		f.state = fanoutEnded
		f.cancel()
		return
	}
	f.rebalanceLocked()
}

// rebalanceLocked sets the shared bitrate to the lowest estimate among the viewers that are not
// lagging, and marks as lagging a viewer that has been far below the best for lagFor.
func (f *Fanout) rebalanceLocked() {
	best := 0
	for v := range f.viewer {
		best = max(best, v.estimate)
	}
	now := time.Now()
	target := 0
	for v := range f.viewer {
		if v.estimate > 0 && best > 0 && v.estimate*lagRatio < best {
			if v.lowSince.IsZero() {
				v.lowSince = now
			} else if now.Sub(v.lowSince) >= lagFor {
				v.markLaggingLocked()
			}
		} else {
			v.lowSince = time.Time{}
		}
		if v.isLagging || v.estimate <= 0 {
			continue
		}
		if target == 0 || v.estimate < target {
			target = v.estimate
		}
	}
	if target > 0 {
		f.st.SetBitrate(target)
	}
}

// Viewer is one viewer's place in a Fanout.
type Viewer struct {
	f     *Fanout
	write func([]byte, time.Duration) error
	queue chan fanFrame
	stop  chan struct{} // closed by Leave or the stream's end: deliver returns
	done  chan struct{} // closed when deliver has returned

	errMu sync.Mutex
	err   error // the first of: the write's error, the stream's error

	// Guarded by f.mu.
	needKey   bool // waiting for a keyframe: just joined, or frames were dropped
	dropping  bool // the queue overflowed and has not drained yet
	dropSince time.Time
	estimate  int
	lowSince  time.Time
	isLagging bool
	lagging   chan struct{}
	overflows []time.Time
	lastKeyRq time.Time
	stopOnce  sync.Once
}

// offer queues fr for v. When v's queue is full, v drops frames until its writes have drained
// the queue, and then waits for a keyframe (asking for one) to resume from. Called with f.mu held.
func (v *Viewer) offer(fr fanFrame) {
	now := time.Now()
	if v.dropping {
		if len(v.queue) > 0 {
			if now.Sub(v.dropSince) >= lagFor {
				v.markLaggingLocked() // stuck for seconds
			}
			return
		}
		v.dropping = false // caught up: resume at the next keyframe
	}
	if v.needKey && !fr.key {
		v.requestKeyframeLocked(now)
		return
	}
	select {
	case v.queue <- fr:
		v.needKey = false
	default:
		v.dropping, v.dropSince, v.needKey = true, now, true
		v.overflows = append(v.overflows, now)
		for len(v.overflows) > 0 && now.Sub(v.overflows[0]) > overflowWindow {
			v.overflows = v.overflows[1:]
		}
		if len(v.overflows) >= overflowsToLag {
			v.markLaggingLocked()
		}
	}
}

func (v *Viewer) markLaggingLocked() {
	if !v.isLagging {
		v.isLagging = true
		close(v.lagging)
	}
}

func (v *Viewer) requestKeyframeLocked(now time.Time) {
	if now.Sub(v.lastKeyRq) < keyframeGap {
		return
	}
	v.lastKeyRq = now
	v.f.st.RequestKeyframe()
}

// deliver writes v's queued frames until v leaves, the stream ends or a write fails.
func (v *Viewer) deliver() {
	defer close(v.done)
	var last time.Time
	for {
		select {
		case <-v.stop:
			return
		case fr := <-v.queue:
			d := time.Duration(0)
			if !last.IsZero() {
				d = fr.at.Sub(last)
			}
			last = fr.at
			if err := v.write(fr.data, d); err != nil {
				v.setErr(err)
				v.halt()
				v.f.leave(v)
				return
			}
		}
	}
}

func (v *Viewer) halt() { v.stopOnce.Do(func() { close(v.stop) }) }

func (v *Viewer) setErr(err error) {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	if v.err == nil {
		v.err = err
	}
}

// end is called by the Fanout when the stream ends.
func (v *Viewer) end(err error) {
	if err != nil {
		v.setErr(err)
	}
	v.halt()
}

// Leave removes the viewer and waits until its writes have stopped; the last viewer out stops
// the shared stream (Fanout.Done then closes).
func (v *Viewer) Leave() {
	v.halt()
	<-v.done
	v.f.leave(v)
}

// Done is closed when this viewer's frames stop: it left, one of its writes failed, or the
// shared stream ended; Err says why.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Err is why the viewer's frames stopped: its write's error, the stream's error, or nil.
func (v *Viewer) Err() error {
	select {
	case <-v.done:
		v.errMu.Lock()
		defer v.errMu.Unlock()
		return v.err
	default:
		return nil
	}
}

// Lagging is closed when this viewer cannot keep up with the others (its bandwidth estimate has
// been under half the best viewer's for 2 s, its queue overflowed three times in 10 s, or its
// writes have been stuck for 2 s): the caller should give it a stream of its own, at its own
// bitrate. A lagging viewer no longer pulls the shared bitrate down.
func (v *Viewer) Lagging() <-chan struct{} { return v.lagging }

// RequestKeyframe asks for a keyframe (this viewer lost the picture); requests closer together
// than 250 ms are coalesced, so one viewer's losses cost the others at most a keyframe each time.
func (v *Viewer) RequestKeyframe() {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	v.requestKeyframeLocked(time.Now())
}

// SetBitrate records this viewer's bandwidth estimate (from its congestion controller) and
// rebalances the shared bitrate.
func (v *Viewer) SetBitrate(bps int) {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	v.estimate = bps
	v.f.rebalanceLocked()
}
