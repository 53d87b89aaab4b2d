package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
)

// Server defaults.
const (
	// DefaultMaxStreams is the default cap on concurrent streams per session. hashicorp/yamux has
	// no cap of its own.
	DefaultMaxStreams = 128
	// DialTimeout bounds the host's connect to a forward target.
	DialTimeout = 10 * time.Second
	// OpenTimeout bounds how long a new stream may take to send its open request, and a reverse
	// stream's peer to reply.
	OpenTimeout = 10 * time.Second
)

// StreamHandler serves a stream of a kind the tunnel package does not handle itself (input,
// control, clipboard, files). It is called after the request was read, owns the stream, must
// write the reply, and must return when ctx ends.
type StreamHandler func(ctx context.Context, stream net.Conn, req Request)

// ServerConfig configures the host side. The zero value refuses every forward.
type ServerConfig struct {
	// Policy decides forward (KindTCP) targets; nil refuses all.
	Policy Checker
	// ListenPolicy decides reverse (-R) listeners; nil refuses all.
	ListenPolicy ListenChecker
	// MaxStreams caps concurrent streams per session, including reverse streams the host
	// opens; zero means DefaultMaxStreams. An open beyond it is refused with
	// StatusTooManyStreams.
	MaxStreams int
	// Dialer connects to allowed targets; nil means a net.Dialer with DialTimeout.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Listen opens reverse listeners; nil means net.Listen.
	Listen func(network, addr string) (net.Listener, error)
	// Logger receives refusals at Warn and forward summaries at Debug; nil discards.
	Logger *slog.Logger
	// Viewer identifies the authenticated viewer (for example its key fingerprint) in logs.
	Viewer string
	// OnForward, if set, is called when a forward ends, and when one is refused (Err set,
	// nothing moved).
	OnForward func(ForwardEvent)
	// Handlers serve other stream kinds; a kind without a handler is answered with
	// StatusUnsupported.
	Handlers map[Kind]StreamHandler
	// Meter, when set, receives live figures (metrics).
	Meter *Meter
}

// Meter receives what a Server moves while it moves, for live metrics (the audit log's
// ForwardEvent comes only at a forward's end). Its functions run on the copy path, once per
// chunk of up to 64 KiB, and when a stream takes or frees a slot: they must be cheap, safe for
// concurrent use, and must not block. A nil function is skipped.
type Meter struct {
	// Forwarded is told each chunk a forward (KindTCP or KindReverse) writes: fromViewer is
	// true for the viewer's bytes toward the target, false for the target's toward the viewer.
	Forwarded func(fromViewer bool, n int)
	// Streams is told +1 when a stream takes one of the MaxStreams slots and -1 when it frees
	// it.
	Streams func(delta int)
}

// Validate refuses unusable settings.
func (c ServerConfig) Validate() error {
	if c.MaxStreams < 0 {
		return errors.New("tunnel: MaxStreams must not be negative")
	}
	for k := range c.Handlers {
		if k == KindTCP || k == KindListen || k == KindReverse || !k.valid() {
			return fmt.Errorf("tunnel: no handler may be registered for kind %v", k)
		}
	}
	return nil
}

// ForwardEvent describes a finished forward, for audit logs.
type ForwardEvent struct {
	Viewer   string
	Kind     Kind           // KindTCP or KindReverse
	Target   string         // as requested (KindTCP) or the originator's address (KindReverse)
	Addr     netip.AddrPort // the address dialed (KindTCP) or the listener's address (KindReverse)
	Sent     int64          // bytes from the viewer toward the target
	Received int64          // bytes from the target toward the viewer
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Server is the host side of the tunnel: it answers the streams a viewer opens.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
}

// NewServer returns a server; the config is used as given (call Validate first to check it).
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Dialer == nil {
		d := &net.Dialer{Timeout: DialTimeout}
		cfg.Dialer = d.DialContext
	}
	if cfg.Listen == nil {
		cfg.Listen = net.Listen
	}
	log := orDiscard(cfg.Logger)
	if cfg.Viewer != "" {
		log = log.With("viewer", cfg.Viewer)
	}
	return &Server{cfg: cfg, log: log}
}

// session is the state of one Serve call.
type session struct {
	s       *Server
	sess    *yamux.Session
	slots   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	listens map[uint32]bool
}

// Serve answers the streams of sess until sess closes or ctx ends. Every goroutine it starts
// is stopped and waited for before it returns; forwards in progress are cut. It returns nil
// when the session closes normally or ctx ends.
func (s *Server) Serve(ctx context.Context, sess *yamux.Session) error {
	ctx, cancel := context.WithCancel(ctx)
	st := &session{s: s, sess: sess, slots: make(chan struct{}, s.cfg.MaxStreams), listens: map[uint32]bool{}}
	defer st.wg.Wait()
	defer cancel()
	for {
		stream, err := sess.AcceptStreamWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil || sessionEnded(err) {
				return nil
			}
			return fmt.Errorf("tunnel: accept stream: %w", err)
		}
		if !st.acquire() {
			st.refuseBusy(stream)
			continue
		}
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			defer st.release()
			st.handle(ctx, stream)
		}()
	}
}

// sessionEnded reports whether err from Accept means the session ended the ordinary way: closed
// by this side, or the peer went away. Keepalive and write timeouts and protocol errors are not
// ordinary and are reported.
func sessionEnded(err error) bool {
	for _, e := range []error{yamux.ErrSessionShutdown, io.EOF, io.ErrClosedPipe, net.ErrClosed, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (st *session) acquire() bool {
	select {
	case st.slots <- struct{}{}:
		if m := st.s.cfg.Meter; m != nil && m.Streams != nil {
			m.Streams(1)
		}
		return true
	default:
		return false
	}
}

func (st *session) release() {
	<-st.slots
	if m := st.s.cfg.Meter; m != nil && m.Streams != nil {
		m.Streams(-1)
	}
}

// pipe joins a viewer's stream to a target's connection, metered.
func (st *session) pipe(ctx context.Context, stream, conn net.Conn) (sent, received int64, err error) {
	var count func(bool, int)
	if m := st.s.cfg.Meter; m != nil && m.Forwarded != nil {
		count = m.Forwarded
	}
	return meteredPipe(ctx, stream, conn, count)
}

// refuseBusy answers an open beyond the cap without reading it, inline in the accept loop so
// that a flood of opens slows itself down instead of spawning goroutines.
func (st *session) refuseBusy(stream *yamux.Stream) {
	st.s.log.Warn("stream refused: too many open streams", "max", st.s.cfg.MaxStreams)
	_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
	_ = WriteReply(stream, Reply{Status: StatusTooManyStreams,
		Message: fmt.Sprintf("the host allows %d concurrent streams per session; close some forwards and retry", st.s.cfg.MaxStreams)})
	_ = stream.Close()
}

func (st *session) handle(ctx context.Context, stream *yamux.Stream) {
	_ = stream.SetReadDeadline(time.Now().Add(OpenTimeout))
	req, err := ReadRequest(stream)
	_ = stream.SetReadDeadline(time.Time{})
	if err != nil {
		st.s.log.Warn("bad open request", "err", err)
		status := StatusBadRequest
		if errors.Is(err, ErrUnknownKind) {
			status = StatusUnsupported
		}
		st.replyAndClose(stream, status, err.Error())
		return
	}
	switch req.Kind {
	case KindTCP:
		st.forward(ctx, stream, req)
	case KindListen:
		st.listen(ctx, stream, req)
	default:
		if h := st.s.cfg.Handlers[req.Kind]; h != nil {
			h(ctx, stream, req)
			return
		}
		st.replyAndClose(stream, StatusUnsupported, fmt.Sprintf("the host does not accept %v streams", req.Kind))
	}
}

func (st *session) replyAndClose(stream net.Conn, status Status, msg string) {
	_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
	_ = WriteReply(stream, Reply{Status: status, Message: msg})
	_ = stream.Close()
}

func (st *session) forward(ctx context.Context, stream *yamux.Stream, req Request) {
	log := st.s.log.With("target", req.Addr)
	var ap netip.AddrPort
	var err error
	if st.s.cfg.Policy != nil {
		ap, err = st.s.cfg.Policy.Check(ctx, req.Addr)
	} else {
		err = &RefusedError{Target: req.Addr}
	}
	if err != nil {
		status := statusForDialErr(err)
		if errors.Is(err, ErrTargetRefused) {
			log.Warn("forward refused", "err", err)
		} else {
			log.Info("forward failed", "err", err)
		}
		st.replyAndClose(stream, status, err.Error())
		if st.s.cfg.OnForward != nil {
			st.s.cfg.OnForward(ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: KindTCP, Target: req.Addr, Start: time.Now(), Err: err})
		}
		return
	}
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	conn, err := st.s.cfg.Dialer(dctx, "tcp", ap.String())
	cancel()
	if err != nil {
		log.Info("forward failed", "addr", ap, "err", err)
		st.replyAndClose(stream, statusForDialErr(err), err.Error())
		return
	}
	_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
	if err := WriteReply(stream, Reply{Status: StatusOK}); err != nil {
		conn.Close()
		abort(stream)
		return
	}
	_ = stream.SetWriteDeadline(time.Time{})
	ev := ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: KindTCP, Target: req.Addr, Addr: ap, Start: time.Now()}
	ev.Sent, ev.Received, ev.Err = st.pipe(ctx, stream, conn)
	st.report(log, ev)
}

func (st *session) report(log *slog.Logger, ev ForwardEvent) {
	ev.Duration = time.Since(ev.Start)
	log.Debug("forward ended", "addr", ev.Addr, "sent", ev.Sent, "received", ev.Received, "duration", ev.Duration, "err", ev.Err)
	if st.s.cfg.OnForward != nil {
		st.s.cfg.OnForward(ev)
	}
}

// statusForDialErr maps a Check or dial error to a reply status.
func statusForDialErr(err error) Status {
	switch {
	case errors.Is(err, ErrTargetRefused):
		return StatusNotAllowed
	case errors.Is(err, ErrBadTarget):
		return StatusBadRequest
	case errors.Is(err, syscall.ECONNREFUSED):
		return StatusConnRefused
	default:
		return StatusUnreachable
	}
}

// listen serves a KindListen stream: the listener lives as long as the stream.
func (st *session) listen(ctx context.Context, ctl *yamux.Stream, req Request) {
	log := st.s.log.With("listen", req.Addr, "listen_id", req.ListenID)
	if st.s.cfg.ListenPolicy == nil {
		err := fmt.Errorf("%w: %s; the host allows no reverse listeners; the host owner can add --allow-listen [BIND:]PORT", ErrListenRefused, req.Addr)
		log.Warn("listen refused", "err", err)
		st.replyAndClose(ctl, StatusNotAllowed, err.Error())
		return
	}
	ap, err := st.s.cfg.ListenPolicy.CheckListen(req.Addr)
	if err != nil {
		log.Warn("listen refused", "err", err)
		status := StatusNotAllowed
		if errors.Is(err, ErrBadTarget) {
			status = StatusBadRequest
		}
		st.replyAndClose(ctl, status, err.Error())
		return
	}
	st.mu.Lock()
	dup := st.listens[req.ListenID]
	st.listens[req.ListenID] = true
	st.mu.Unlock()
	if dup {
		st.replyAndClose(ctl, StatusBadRequest, fmt.Sprintf("listen ID %d is already in use on this session", req.ListenID))
		return
	}
	defer func() {
		st.mu.Lock()
		delete(st.listens, req.ListenID)
		st.mu.Unlock()
	}()
	ln, err := st.s.cfg.Listen("tcp", ap.String())
	if err != nil {
		log.Info("listen failed", "err", err)
		st.replyAndClose(ctl, StatusListenFailed, err.Error())
		return
	}
	defer ln.Close()
	bound := ln.Addr().String()
	_ = ctl.SetWriteDeadline(time.Now().Add(OpenTimeout))
	if err := WriteReply(ctl, Reply{Status: StatusOK, Message: bound}); err != nil {
		abort(ctl)
		return
	}
	log.Info("reverse listener open", "bound", bound)

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lctx, func() { ln.Close(); abort(ctl) })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	// The viewer closes the control stream to stop listening; anything it sends is ignored.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		_, _ = io.Copy(io.Discard, ctl)
	}()
	lap, _ := netip.ParseAddrPort(bound)
	for {
		conn, err := ln.Accept()
		if err != nil {
			cancel()
			break
		}
		if !st.acquire() {
			log.Warn("reverse connection dropped: too many open streams", "from", conn.RemoteAddr())
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer st.release()
			st.reverse(lctx, log, req.ListenID, lap, conn)
		}()
	}
	abort(ctl)
	log.Info("reverse listener closed", "bound", bound)
}

// reverse carries one connection accepted on a reverse listener to the viewer.
func (st *session) reverse(ctx context.Context, log *slog.Logger, id uint32, lap netip.AddrPort, conn net.Conn) {
	from := conn.RemoteAddr().String()
	stream, err := st.sess.OpenStream()
	if err != nil {
		conn.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { abort(stream) })
	_ = stream.SetDeadline(time.Now().Add(OpenTimeout))
	err = WriteRequest(stream, Request{Kind: KindReverse, ListenID: id, Addr: from})
	var rep Reply
	if err == nil {
		rep, err = ReadReply(stream)
	}
	if err == nil {
		err = rep.Err()
	}
	_ = stream.SetDeadline(time.Time{})
	if !stop() || err != nil {
		log.Info("reverse connection refused by the viewer", "from", from, "err", err)
		conn.Close()
		abort(stream)
		return
	}
	ev := ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: KindReverse, Target: from, Addr: lap, Start: time.Now()}
	ev.Sent, ev.Received, ev.Err = st.pipe(ctx, stream, conn)
	st.report(log, ev)
}
