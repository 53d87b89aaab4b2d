package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/deskport/deskport/mux"
)

// Injector performs input on the host's display. Implementations must be safe for concurrent
// use: a watchdog may release keys while a stream injects.
//
// Events arrive validated and in injector units: TypePointerAbs carries root-window pixels
// inside the captured rectangle (Server maps the normalised coordinates), TypeWheel the raw
// 1/120-notch deltas (an injector that needs whole notches accumulates the rest), and
// TypeReleaseAll asks it to release every key and button it pressed. TypeHeartbeat is never
// passed on.
type Injector interface {
	Inject(e Event) error
	Close() error
}

// Defaults for Config's zero values.
const (
	DefaultMaxEventsPerSecond = 1000
	DefaultBurst              = 250
	DefaultHeartbeatTimeout   = time.Second
	// HeartbeatInterval is how often a viewer sends a heartbeat while it holds a key or a
	// button: four chances before the host's default timeout.
	HeartbeatInterval = 250 * time.Millisecond
)

// Config configures a Server. The zero value, with an Injector and a Rect, is a usable host.
type Config struct {
	// Injector performs the events; it may be nil only when ViewOnly.
	Injector Injector
	// Rect returns the captured area in root-window coordinates (screen/x11 Capturer.Rect).
	// It is called for each absolute pointer event, so a resize or a monitor change is
	// followed at once. Nil, or an empty rectangle, drops absolute pointer events.
	Rect func() (x, y, w, h int)
	// ViewOnly refuses every event: nothing is injected, refusals are counted in Stats.
	ViewOnly bool
	// MaxEventsPerSecond caps the steady rate of injected events per stream (a text event
	// costs one per character); 0 means DefaultMaxEventsPerSecond. Releases (key-up,
	// button-up, release-all) are never limited, so the cap can never leave a key stuck.
	MaxEventsPerSecond int
	// Burst is how many events may arrive at once above the steady rate; 0 means DefaultBurst.
	Burst int
	// HeartbeatTimeout is how long keys and buttons stay held without a heartbeat or a new
	// press before the host releases them; 0 means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// Logger receives stream summaries at Debug and injection failures at Warn; nil discards.
	Logger *slog.Logger
}

// Validate refuses settings that would inject without an injector or release keys while a
// healthy viewer still holds them.
func (c *Config) Validate() error {
	if c.Injector == nil && !c.ViewOnly {
		return errors.New("input: Config.Injector is nil; set one or ViewOnly")
	}
	if c.MaxEventsPerSecond < 0 || c.Burst < 0 {
		return fmt.Errorf("input: MaxEventsPerSecond (%d) and Burst (%d) must not be negative", c.MaxEventsPerSecond, c.Burst)
	}
	if c.HeartbeatTimeout != 0 && c.HeartbeatTimeout < 2*HeartbeatInterval {
		return fmt.Errorf("input: HeartbeatTimeout %v is shorter than two heartbeat intervals (%v); held keys would be released under a healthy viewer", c.HeartbeatTimeout, 2*HeartbeatInterval)
	}
	return nil
}

// Stats counts events over every stream a Server has served.
type Stats struct {
	// Injected events were handed to the Injector and it succeeded.
	Injected uint64
	// Refused events arrived on a ViewOnly server.
	Refused uint64
	// Dropped events were invalid (unknown type, key or button; a release of something not
	// held; a pointer event without a captured area) or over the rate cap.
	Dropped uint64
	// Failed events were refused by the Injector.
	Failed uint64
	// Watchdog counts releases forced by a missing heartbeat.
	Watchdog uint64
}

// Server serves input streams. Use one per viewer session with its own Injector; its methods
// are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	injected, refused, dropped, failed, watchdog atomic.Uint64
}

// NewServer checks cfg and fills in its defaults.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxEventsPerSecond == 0 {
		cfg.MaxEventsPerSecond = DefaultMaxEventsPerSecond
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log}, nil
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Injected: s.injected.Load(),
		Refused:  s.refused.Load(),
		Dropped:  s.dropped.Load(),
		Failed:   s.failed.Load(),
		Watchdog: s.watchdog.Load(),
	}
}

// HandleStream serves a mux.KindInput stream: it checks the open payload, writes the
// reply, serves the events and closes the stream. It has the signature of a
// mux.Handler.
func (s *Server) HandleStream(ctx context.Context, stream net.Conn, req mux.Request) {
	defer stream.Close()
	hello, err := ParseHello(req.Payload)
	_ = stream.SetWriteDeadline(time.Now().Add(mux.OpenTimeout))
	if err != nil {
		s.log.Warn("input stream refused", "err", err)
		_ = mux.WriteReply(stream, mux.Reply{Status: mux.StatusUnsupported, Message: err.Error()})
		return
	}
	if err := mux.WriteReply(stream, mux.Reply{Status: mux.StatusOK}); err != nil {
		return
	}
	_ = stream.SetWriteDeadline(time.Time{})
	if s.cfg.Rect != nil && hello.Width > 0 {
		if _, _, w, h := s.cfg.Rect(); w != hello.Width || h != hello.Height {
			s.log.Debug("input: viewer shows another screen size", "viewer", fmt.Sprintf("%dx%d", hello.Width, hello.Height), "host", fmt.Sprintf("%dx%d", w, h))
		}
	}
	if err := s.Serve(ctx, stream); err != nil && ctx.Err() == nil {
		s.log.Debug("input stream ended", "err", err)
	}
}

// Serve injects the events read from r until r ends, fails, or ctx is done, then releases
// every key and button the stream holds. It returns nil at a clean end of stream, ctx's error
// when ctx ended it, and otherwise the decoding or injection error.
//
// When ctx is done Serve unblocks its read with SetReadDeadline if r has it (net.Conn, yamux
// streams) or else Close if r is an io.Closer; a bare io.Reader keeps Serve until it returns.
// Every goroutine Serve starts has stopped when it returns.
func (s *Server) Serve(ctx context.Context, r io.Reader) error {
	st := &stream{s: s, alive: time.Now(), tokens: float64(s.cfg.Burst), refilled: time.Now()}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { st.watch(ctx, r, done) })
	err := st.run(NewDecoder(r))
	close(done)
	wg.Wait()
	st.mu.Lock()
	st.releaseAll()
	st.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// stream is the state of one Serve call.
type stream struct {
	s *Server

	mu       sync.Mutex
	keys     [256]bool // by Code
	nkeys    int
	buttons  uint8 // bit b-1 for Button b
	alive    time.Time
	tokens   float64
	refilled time.Time
	warned   bool // an injection failure was logged at Warn
	closed   bool // the injector is closed
}

// watch releases held keys when heartbeats stop, and unblocks the reader when ctx ends.
func (st *stream) watch(ctx context.Context, r io.Reader, done <-chan struct{}) {
	timeout := st.s.cfg.HeartbeatTimeout
	tick := time.NewTicker(timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			unblock(r)
			return
		case now := <-tick.C:
			st.mu.Lock()
			if (st.nkeys > 0 || st.buttons != 0) && now.Sub(st.alive) >= timeout {
				st.s.log.Warn("input: no heartbeat from the viewer; releasing held keys and buttons", "keys", st.nkeys, "after", now.Sub(st.alive).Round(time.Millisecond))
				st.s.watchdog.Add(1)
				st.releaseAll()
			}
			st.mu.Unlock()
		}
	}
}

func unblock(r io.Reader) {
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Unix(1, 0))
		return
	}
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

func (st *stream) run(d *Decoder) error {
	var seen uint64
	for {
		e, err := d.Next()
		if n := d.Dropped(); n != seen {
			st.s.dropped.Add(n - seen)
			seen = n
		}
		if err != nil {
			return err
		}
		st.mu.Lock()
		err = st.handle(e)
		st.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// handle validates and injects one event; st.mu is held. It returns an error only when the
// injector is closed.
func (st *stream) handle(e Event) error {
	s := st.s
	if e.Type == TypeHeartbeat {
		st.alive = time.Now()
		if s.cfg.ViewOnly {
			return nil
		}
		if e.HeldKeys == 0 && st.nkeys > 0 {
			for c := range st.keys {
				if st.keys[c] {
					st.inject(KeyEvent(Code(c), false))
				}
			}
		}
		for b := ButtonLeft; b <= maxButton; b++ {
			if st.buttons&bit(b) != 0 && e.HeldButtons&bit(b) == 0 {
				st.inject(ButtonEvent(b, false))
			}
		}
		return st.closedErr()
	}
	if s.cfg.ViewOnly {
		s.refused.Add(1)
		return nil
	}
	release := false
	switch e.Type {
	case TypeReleaseAll:
		st.releaseAll()
		return st.closedErr()
	case TypeKey:
		if st.keys[e.Code] == e.Down { // a repeat, or an up for a key this stream did not press
			s.dropped.Add(1)
			return nil
		}
		release = !e.Down
	case TypeButton:
		if (st.buttons&bit(e.Button) != 0) == e.Down {
			s.dropped.Add(1)
			return nil
		}
		release = !e.Down
	case TypePointerAbs:
		if s.cfg.Rect == nil {
			s.dropped.Add(1)
			return nil
		}
		x, y, w, h := s.cfg.Rect()
		if w <= 0 || h <= 0 {
			s.dropped.Add(1)
			return nil
		}
		e.X, e.Y = MapToRect(e.X, e.Y, x, y, w, h)
	case TypePointerRel, TypeWheel:
		if e.DX == 0 && e.DY == 0 {
			s.dropped.Add(1)
			return nil
		}
	}
	if !release {
		cost := 1
		if e.Type == TypeText {
			cost = utf8.RuneCountInString(e.Text)
		}
		if !st.take(cost) {
			s.dropped.Add(1)
			return nil
		}
	}
	st.inject(e)
	return st.closedErr()
}

// take spends cost tokens of the rate cap if it has them.
func (st *stream) take(cost int) bool {
	now := time.Now()
	st.tokens = min(float64(st.s.cfg.Burst), st.tokens+now.Sub(st.refilled).Seconds()*float64(st.s.cfg.MaxEventsPerSecond))
	st.refilled = now
	if st.tokens < float64(cost) {
		return false
	}
	st.tokens -= float64(cost)
	return true
}

// inject hands e to the injector and tracks what is held. A failed release still counts as
// released: retrying would not help, and release-all at the end tries again.
func (st *stream) inject(e Event) {
	err := st.s.cfg.Injector.Inject(e)
	switch e.Type {
	case TypeKey:
		if st.keys[e.Code] != e.Down {
			st.keys[e.Code] = e.Down
			if e.Down {
				st.nkeys++
			} else {
				st.nkeys--
			}
		}
	case TypeButton:
		if e.Down {
			st.buttons |= bit(e.Button)
		} else {
			st.buttons &^= bit(e.Button)
		}
	}
	if (e.Type == TypeKey || e.Type == TypeButton) && e.Down {
		st.alive = time.Now() // a press is as good as a heartbeat: the viewer was alive for it
	}
	if err != nil {
		st.s.failed.Add(1)
		if errors.Is(err, ErrClosed) {
			st.closed = true
			return
		}
		if !st.warned {
			st.warned = true
			st.s.log.Warn("input: injection failed", "event", e.Type, "err", err)
		} else {
			st.s.log.Debug("input: injection failed", "event", e.Type, "err", err)
		}
		return
	}
	st.s.injected.Add(1)
}

// releaseAll releases what this stream holds, one by one, then asks the injector to release
// anything else it pressed; st.mu is held.
func (st *stream) releaseAll() {
	if st.s.cfg.ViewOnly {
		return
	}
	for c := range st.keys {
		if st.keys[c] {
			st.inject(KeyEvent(Code(c), false))
		}
	}
	for b := ButtonLeft; b <= maxButton; b++ {
		if st.buttons&bit(b) != 0 {
			st.inject(ButtonEvent(b, false))
		}
	}
	if err := st.s.cfg.Injector.Inject(ReleaseAllEvent()); err != nil && !errors.Is(err, ErrClosed) {
		st.s.log.Debug("input: release-all failed", "err", err)
	}
}

// closedErr reports a closed injector, which ends the stream.
func (st *stream) closedErr() error {
	if st.closed {
		return fmt.Errorf("input: the injector was closed: %w", ErrClosed)
	}
	return nil
}

func bit(b Button) uint8 { return 1 << (b - 1) }
