package input

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/mux"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Injector that remembers what it was asked to do.
type recorder struct {
	mu     sync.Mutex
	events []Event
	closed bool
}

func (r *recorder) Inject(e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recorder) got() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Rect == nil {
		cfg.Rect = func() (int, int, int, int) { return 0, 0, 1280, 720 }
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encode(t *testing.T, events ...Event) []byte {
	t.Helper()
	b, err := Encode(events...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServe(t *testing.T) {
	rec := &recorder{}
	s := newTestServer(t, Config{Injector: rec, Rect: func() (int, int, int, int) { return 100, 50, 640, 360 }})
	a, shift := code(t, "KeyA"), code(t, "ShiftLeft")
	b := encode(t,
		PointerTo(1, 1), KeyEvent(shift, true), KeyEvent(a, true), KeyEvent(a, true), // a repeat: dropped
		KeyEvent(a, false), KeyEvent(a, false), // an up for a key not held: dropped
		ButtonEvent(ButtonLeft, true), WheelBy(0, 0), // no movement: dropped
		TextEvent("é"), HeartbeatEvent(1, 1),
	)
	b = append(b, 99, 0, 1, 0) // unknown type: skipped
	if err := s.Serve(context.Background(), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Type: TypePointerAbs, X: 739, Y: 409}, KeyEvent(shift, true), KeyEvent(a, true), KeyEvent(a, false),
		ButtonEvent(ButtonLeft, true), TextEvent("é"),
		// At the end of the stream: what it holds, one by one, then release-all.
		KeyEvent(shift, false), ButtonEvent(ButtonLeft, false), ReleaseAllEvent(),
	}
	if got := rec.got(); !slices.Equal(got, want) {
		t.Errorf("injected\n%+v\nwant\n%+v", got, want)
	}
	if st := s.Stats(); st != (Stats{Injected: 8, Dropped: 4}) {
		t.Errorf("stats %+v", st)
	}
}

func TestServeErrors(t *testing.T) {
	rec := &recorder{}
	s := newTestServer(t, Config{Injector: rec})
	b := append(encode(t, KeyEvent(code(t, "KeyA"), true)), 1, 0)
	if err := s.Serve(context.Background(), bytes.NewReader(b)); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated stream: %v", err)
	}
	if got := rec.got(); len(got) != 3 || got[1] != KeyEvent(code(t, "KeyA"), false) {
		t.Errorf("a key held when the stream broke must be released: %+v", got)
	}
	rec.Close()
	if err := s.Serve(context.Background(), bytes.NewReader(encode(t, PointerTo(0, 0), PointerTo(1, 1)))); !errors.Is(err, ErrClosed) {
		t.Errorf("closed injector: %v", err)
	}
}

func TestRectEmpty(t *testing.T) {
	rec := &recorder{}
	s := newTestServer(t, Config{Injector: rec, Rect: func() (int, int, int, int) { return 0, 0, 0, 0 }})
	if err := s.Serve(context.Background(), bytes.NewReader(encode(t, PointerTo(0.5, 0.5)))); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Injected != 0 || st.Dropped != 1 {
		t.Errorf("pointer without a captured area: %+v", st)
	}
}

func TestViewOnly(t *testing.T) {
	s := newTestServer(t, Config{ViewOnly: true}) // no injector needed
	b := encode(t, PointerTo(0.5, 0.5), KeyEvent(code(t, "KeyA"), true), TextEvent("x"), ReleaseAllEvent(), HeartbeatEvent(1, 0))
	if err := s.Serve(context.Background(), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st != (Stats{Refused: 4}) {
		t.Errorf("stats %+v, want 4 refused", st)
	}
}

func TestRateCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := newTestServer(t, Config{Injector: rec, MaxEventsPerSecond: 100, Burst: 10})
		a := code(t, "KeyA")
		var events []Event
		for range 30 {
			events = append(events, PointerTo(0.5, 0.5))
		}
		events = append(events, TextEvent("abc"), KeyEvent(a, true)) // over the cap: dropped
		if err := s.Serve(context.Background(), bytes.NewReader(encode(t, events...))); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Injected != 10 || st.Dropped != 22 { // the burst of 10 moves
			t.Errorf("burst: %+v", st)
		}

		// After a second the bucket is full again; releases are never limited.
		time.Sleep(time.Second)
		rec.events = nil
		events = events[:0]
		events = append(events, KeyEvent(a, true))
		for range 20 {
			events = append(events, PointerTo(0.1, 0.1))
		}
		events = append(events, KeyEvent(a, false))
		if err := s.Serve(context.Background(), bytes.NewReader(encode(t, events...))); err != nil {
			t.Fatal(err)
		}
		got := rec.got()
		if len(got) != 12 || got[10] != KeyEvent(a, false) {
			t.Errorf("a key-up over the cap must still be injected: %+v", got)
		}
	})
}

func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := newTestServer(t, Config{Injector: rec})
		viewer, host := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background(), host) }()
		send := func(events ...Event) {
			t.Helper()
			if _, err := viewer.Write(encode(t, events...)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		a, b := code(t, "KeyA"), code(t, "KeyB")

		// Heartbeats keep a key held for as long as they come.
		send(KeyEvent(a, true))
		for range 12 {
			time.Sleep(HeartbeatInterval)
			send(HeartbeatEvent(1, 0))
		}
		if got := rec.got(); len(got) != 1 {
			t.Fatalf("released under heartbeats: %+v", got)
		}
		// When they stop, the key is released about a second after the last one.
		time.Sleep(900 * time.Millisecond)
		synctest.Wait()
		if got := rec.got(); len(got) != 1 {
			t.Fatalf("released 0.9 s after a heartbeat: %+v", got)
		}
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		want := []Event{KeyEvent(a, true), KeyEvent(a, false), ReleaseAllEvent()}
		if got := rec.got(); !slices.Equal(got, want) {
			t.Fatalf("after the timeout: %+v, want %+v", got, want)
		}
		if s.Stats().Watchdog != 1 {
			t.Errorf("stats %+v", s.Stats())
		}

		// A heartbeat saying nothing is held releases at once (the key-up was lost).
		send(KeyEvent(b, true), ButtonEvent(ButtonRight, true), HeartbeatEvent(0, 0))
		want = append(want, KeyEvent(b, true), ButtonEvent(ButtonRight, true), KeyEvent(b, false), ButtonEvent(ButtonRight, false))
		if got := rec.got(); !slices.Equal(got, want) {
			t.Fatalf("after an empty heartbeat: %+v, want %+v", got, want)
		}
		viewer.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestServeStopsOnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := newTestServer(t, Config{Injector: rec})
		viewer, host := net.Pipe()
		defer viewer.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, host) }()
		if _, err := viewer.Write(encode(t, KeyEvent(code(t, "KeyQ"), true))); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", err)
		}
		if got := rec.got(); len(got) != 3 || got[1].Down {
			t.Errorf("held key not released when ctx ended: %+v", got)
		}
	})
}

// closingReader has Close but no deadline: Serve closes it to stop.
type closingReader struct {
	r      *io.PipeReader
	closed chan struct{}
}

func (c closingReader) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c closingReader) Close() error               { close(c.closed); return c.r.Close() }

func TestServeClosesReaderOnContext(t *testing.T) {
	s := newTestServer(t, Config{Injector: &recorder{}})
	pr, pw := io.Pipe()
	defer pw.Close()
	r := closingReader{pr, make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Serve(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v", err)
	}
	<-r.closed
}

func TestHandleStream(t *testing.T) {
	rec := &recorder{}
	s := newTestServer(t, Config{Injector: rec})
	for _, tc := range []struct {
		payload []byte
		status  mux.Status
	}{
		{AppendHello(nil, 1280, 720), mux.StatusOK},
		{[]byte{9}, mux.StatusUnsupported},
	} {
		viewer, host := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.HandleStream(context.Background(), host, mux.Request{Kind: mux.KindInput, Payload: tc.payload})
		}()
		reply, err := mux.ReadReply(viewer)
		if err != nil || reply.Status != tc.status {
			t.Errorf("% x: reply %+v, %v; want status %d", tc.payload, reply, err, tc.status)
		}
		if tc.status == mux.StatusOK {
			if _, err := viewer.Write(encode(t, PointerTo(0, 0))); err != nil {
				t.Fatal(err)
			}
			viewer.Close()
		}
		<-done
		viewer.Close()
	}
	if got := rec.got(); len(got) != 2 || got[0].Type != TypePointerAbs {
		t.Errorf("injected %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Injector: &recorder{}}, true},
		{Config{ViewOnly: true}, true},
		{Config{}, false},
		{Config{Injector: &recorder{}, MaxEventsPerSecond: -1}, false},
		{Config{Injector: &recorder{}, Burst: -1}, false},
		{Config{Injector: &recorder{}, HeartbeatTimeout: 100 * time.Millisecond}, false},
		{Config{Injector: &recorder{}, HeartbeatTimeout: 2 * time.Second}, true},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}
