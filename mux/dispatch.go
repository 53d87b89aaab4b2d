package mux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
)

// Dispatch defaults.
const (
	// DefaultMaxStreams is the default cap on concurrent streams per session. hashicorp/yamux has
	// no cap of its own.
	DefaultMaxStreams = 128
	// OpenTimeout bounds how long a new stream may take to send its open request, and a peer to
	// send its reply.
	OpenTimeout = 10 * time.Second
)

// Handler serves one accepted stream of the kind it is registered for. It is called after the
// open request was read, owns the stream, must write the reply (Accept, Refuse) and must return
// when ctx ends.
type Handler func(ctx context.Context, stream net.Conn, req Request)

// Config configures a Dispatcher. The zero value is usable: DefaultMaxStreams, no log.
type Config struct {
	// MaxStreams caps concurrent streams: those accepted and those this side opened under
	// Acquire. Zero means DefaultMaxStreams. An open beyond it is refused with
	// StatusTooManyStreams.
	MaxStreams int
	// Side names this end in refusals the peer shows ("the host does not accept tcp streams");
	// empty means "peer".
	Side string
	// Logger receives refusals at Warn; nil discards.
	Logger *slog.Logger
	// Streams, when set, is told +1 when a stream takes one of the MaxStreams slots and -1 when
	// it frees it (live metrics). It must be cheap and must not block.
	Streams func(delta int)
}

// Validate refuses unusable settings.
func (c Config) Validate() error {
	if c.MaxStreams < 0 {
		return errors.New("mux: MaxStreams must not be negative")
	}
	return nil
}

// Dispatcher routes the streams the peer opens on one yamux session to the Handler registered
// for their kind, and caps how many run at once. Register every handler with Handle before
// Serve.
type Dispatcher struct {
	sess     *yamux.Session
	cfg      Config
	log      *slog.Logger
	slots    chan struct{}
	handlers map[Kind]Handler
}

// NewDispatcher returns a dispatcher for sess; cfg is used as given (call Validate first to
// check it).
func NewDispatcher(sess *yamux.Session, cfg Config) *Dispatcher {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Side == "" {
		cfg.Side = "peer"
	}
	return &Dispatcher{sess: sess, cfg: cfg, log: orDiscard(cfg.Logger),
		slots: make(chan struct{}, cfg.MaxStreams), handlers: map[Kind]Handler{}}
}

// Handle registers h for streams of kind k. A kind without a handler is answered with
// StatusUnsupported. Like http.ServeMux, it panics on a kind outside the registry, a nil
// handler or a second registration: those are programming errors, found at start-up.
func (d *Dispatcher) Handle(k Kind, h Handler) {
	switch {
	case !k.valid():
		panic(fmt.Sprintf("mux: Handle: kind %v is not in the registry", k))
	case h == nil:
		panic(fmt.Sprintf("mux: Handle: nil handler for %v", k))
	case d.handlers[k] != nil:
		panic(fmt.Sprintf("mux: Handle: a handler for %v is already registered", k))
	}
	d.handlers[k] = h
}

// Also returns a dispatcher for another yamux session between the same two ends (the direct
// TCP lane beside the tunnel channel) with d's handlers, settings and stream slots: streams on
// both count against one MaxStreams. Register every handler on d before calling Also.
func (d *Dispatcher) Also(sess *yamux.Session) *Dispatcher {
	handlers := make(map[Kind]Handler, len(d.handlers))
	for k, h := range d.handlers {
		handlers[k] = h
	}
	return &Dispatcher{sess: sess, cfg: d.cfg, log: d.log, slots: d.slots, handlers: handlers}
}

// Session is the yamux session the dispatcher serves; handlers that open streams back (the
// reverse forwards) open them here with Open, under Acquire.
func (d *Dispatcher) Session() *yamux.Session { return d.sess }

// Acquire takes one of the MaxStreams slots for a stream this side opens; false means the cap
// is reached. Every successful Acquire must be followed by one Release.
func (d *Dispatcher) Acquire() bool {
	select {
	case d.slots <- struct{}{}:
		if d.cfg.Streams != nil {
			d.cfg.Streams(1)
		}
		return true
	default:
		return false
	}
}

// Release frees a slot taken by Acquire.
func (d *Dispatcher) Release() {
	<-d.slots
	if d.cfg.Streams != nil {
		d.cfg.Streams(-1)
	}
}

// Serve accepts the peer's streams until the session closes or ctx ends, reads each one's open
// request and runs its kind's handler on a goroutine of its own. Every goroutine it starts is
// stopped (ctx is cancelled) and waited for before it returns. It returns nil when the session
// closes normally or ctx ends.
func (d *Dispatcher) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		stream, err := d.sess.AcceptStreamWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil || SessionEnded(err) {
				return nil
			}
			return fmt.Errorf("mux: accept stream: %w", err)
		}
		if !d.Acquire() {
			d.refuseBusy(stream)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.Release()
			d.dispatch(ctx, stream)
		}()
	}
}

// refuseBusy answers an open beyond the cap without reading it, inline in the accept loop so
// that a flood of opens slows itself down instead of spawning goroutines.
func (d *Dispatcher) refuseBusy(stream *yamux.Stream) {
	d.log.Warn("stream refused: too many open streams", "max", d.cfg.MaxStreams)
	Refuse(stream, StatusTooManyStreams,
		fmt.Sprintf("the %s allows %d concurrent streams per session; close some and retry", d.cfg.Side, d.cfg.MaxStreams))
}

func (d *Dispatcher) dispatch(ctx context.Context, stream *yamux.Stream) {
	_ = stream.SetReadDeadline(time.Now().Add(OpenTimeout))
	req, err := ReadRequest(stream)
	_ = stream.SetReadDeadline(time.Time{})
	if err != nil {
		d.log.Warn("bad open request", "err", err)
		status := StatusBadRequest
		if errors.Is(err, ErrUnknownKind) {
			status = StatusUnsupported
		}
		Refuse(stream, status, err.Error())
		return
	}
	if h := d.handlers[req.Kind]; h != nil {
		h(ctx, stream, req)
		return
	}
	Refuse(stream, StatusUnsupported, fmt.Sprintf("the %s does not accept %v streams", d.cfg.Side, req.Kind))
}

// Accept writes the OK reply (with msg, for KindListen the bound address) within OpenTimeout.
// On an error the handler should Abort the stream.
func Accept(stream net.Conn, msg string) error {
	_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
	err := WriteReply(stream, Reply{Status: StatusOK, Message: msg})
	_ = stream.SetWriteDeadline(time.Time{})
	return err
}

// Refuse answers an open with a non-OK status and msg (what the person at the other end should
// read and do) within OpenTimeout, then closes the stream.
func Refuse(stream net.Conn, status Status, msg string) {
	_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
	_ = WriteReply(stream, Reply{Status: status, Message: msg})
	_ = stream.Close()
}

// SessionEnded reports whether err from Accept means the session ended the ordinary way: closed
// by this side, or the peer went away. Keepalive and write timeouts and protocol errors are not
// ordinary and are reported.
func SessionEnded(err error) bool {
	for _, e := range []error{yamux.ErrSessionShutdown, io.EOF, io.ErrClosedPipe, net.ErrClosed, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
