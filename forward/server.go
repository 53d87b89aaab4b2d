package forward

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

	"github.com/deskport/deskport/mux"
)

// DialTimeout bounds the host's connect to a forward target.
const DialTimeout = 10 * time.Second

// ServerConfig configures the host side. The zero value refuses every forward.
type ServerConfig struct {
	// Policy decides forward (mux.KindTCP) targets; nil refuses all.
	Policy Checker
	// ListenPolicy decides reverse (-R) listeners; nil refuses all.
	ListenPolicy ListenChecker
	// MaxStreams caps concurrent streams per session when Serve runs the session's dispatcher;
	// zero means mux.DefaultMaxStreams. With Register, the dispatcher's own cap applies.
	MaxStreams int
	// Dialer connects to allowed targets; nil means a net.Dialer with DialTimeout.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Listen opens reverse listeners; nil means net.Listen.
	Listen func(network, addr string) (net.Listener, error)
	// Logger receives refusals at Warn and forward summaries at Debug; nil discards. It is used
	// as given: the caller's logger says which session and viewer (the host's already carries
	// viewer=, so the server adds nothing).
	Logger *slog.Logger
	// Viewer identifies the authenticated viewer (for example its key fingerprint) in the
	// ForwardEvents.
	Viewer string
	// OnForward, if set, is called when a forward ends, and when one is refused (Err set,
	// nothing moved).
	OnForward func(ForwardEvent)
	// Meter, when set, receives live figures (metrics).
	Meter *Meter
}

// Meter receives what a Server moves while it moves, for live metrics (the audit log's
// ForwardEvent comes only at a forward's end). Its function runs on the copy path, once per
// chunk of up to 64 KiB: it must be cheap, safe for concurrent use, and must not block. A nil
// function is skipped. (Open streams are counted by the dispatcher: mux.Config.Streams.)
type Meter struct {
	// Forwarded is told each chunk a forward (mux.KindTCP or mux.KindReverse) writes: fromViewer is
	// true for the viewer's bytes toward the target, false for the target's toward the viewer.
	Forwarded func(fromViewer bool, n int)
}

// Validate refuses unusable settings.
func (c ServerConfig) Validate() error {
	if c.MaxStreams < 0 {
		return errors.New("forward: MaxStreams must not be negative")
	}
	return nil
}

// ForwardEvent describes a finished forward, for audit logs.
type ForwardEvent struct {
	Viewer   string
	Kind     mux.Kind       // mux.KindTCP or mux.KindReverse
	Target   string         // as requested (mux.KindTCP) or the originator's address (mux.KindReverse)
	Addr     netip.AddrPort // the address dialed (mux.KindTCP) or the listener's address (mux.KindReverse)
	Sent     int64          // bytes from the viewer toward the target
	Received int64          // bytes from the target toward the viewer
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Server is the host side of port forwarding: it answers the forward (mux.KindTCP) and reverse
// listener (mux.KindListen) streams a viewer opens, under its policies.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
}

// NewServer returns a server; the config is used as given (call Validate first to check it).
func NewServer(cfg ServerConfig) *Server {
	if cfg.Dialer == nil {
		d := &net.Dialer{Timeout: DialTimeout}
		cfg.Dialer = d.DialContext
	}
	if cfg.Listen == nil {
		cfg.Listen = net.Listen
	}
	return &Server{cfg: cfg, log: orDiscard(cfg.Logger)}
}

// Register handles mux.KindTCP and mux.KindListen on d, the dispatcher of one session; the streams of
// reverse forwards are opened on d's session and count against d's cap. The host registers
// the other kinds of its tunnel channel (files) on the same dispatcher.
func (s *Server) Register(d *mux.Dispatcher) {
	sc := &serverConn{s: s, d: d, listens: map[uint32]bool{}}
	d.Handle(mux.KindTCP, sc.forward)
	d.Handle(mux.KindListen, sc.listen)
}

// Serve answers the forwards on sess until sess closes or ctx ends, on a dispatcher of its own
// that handles nothing else. Every goroutine it starts is stopped and waited for before it
// returns; forwards in progress are cut. It returns nil when the session closes normally or
// ctx ends.
func (s *Server) Serve(ctx context.Context, sess *yamux.Session) error {
	d := mux.NewDispatcher(sess, mux.Config{MaxStreams: s.cfg.MaxStreams, Side: "host", Logger: s.cfg.Logger})
	s.Register(d)
	return d.Serve(ctx)
}

// serverConn is the forwarding state of one session: its dispatcher and the listen IDs in use.
type serverConn struct {
	s       *Server
	d       *mux.Dispatcher
	mu      sync.Mutex
	listens map[uint32]bool
}

// pipe joins a viewer's stream to a target's connection, metered.
func (st *serverConn) pipe(ctx context.Context, stream, conn net.Conn) (sent, received int64, err error) {
	var count func(bool, int)
	if m := st.s.cfg.Meter; m != nil && m.Forwarded != nil {
		count = m.Forwarded
	}
	return meteredPipe(ctx, stream, conn, count)
}

func (st *serverConn) replyAndClose(stream net.Conn, status mux.Status, msg string) {
	mux.Refuse(stream, status, msg)
}

func (st *serverConn) forward(ctx context.Context, stream net.Conn, req mux.Request) {
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
			st.s.cfg.OnForward(ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: mux.KindTCP, Target: req.Addr, Start: time.Now(), Err: err})
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
	if err := mux.Accept(stream, ""); err != nil {
		conn.Close()
		mux.Abort(stream)
		return
	}
	ev := ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: mux.KindTCP, Target: req.Addr, Addr: ap, Start: time.Now()}
	ev.Sent, ev.Received, ev.Err = st.pipe(ctx, stream, conn)
	st.report(log, ev)
}

func (st *serverConn) report(log *slog.Logger, ev ForwardEvent) {
	ev.Duration = time.Since(ev.Start)
	log.Debug("forward ended", "addr", ev.Addr, "sent", ev.Sent, "received", ev.Received, "duration", ev.Duration, "err", ev.Err)
	if st.s.cfg.OnForward != nil {
		st.s.cfg.OnForward(ev)
	}
}

// statusForDialErr maps a Check or dial error to a reply status.
func statusForDialErr(err error) mux.Status {
	switch {
	case errors.Is(err, ErrTargetRefused):
		return mux.StatusNotAllowed
	case errors.Is(err, ErrBadTarget):
		return mux.StatusBadRequest
	case errors.Is(err, syscall.ECONNREFUSED):
		return mux.StatusConnRefused
	default:
		return mux.StatusUnreachable
	}
}

// listen serves a mux.KindListen stream: the listener lives as long as the stream.
func (st *serverConn) listen(ctx context.Context, ctl net.Conn, req mux.Request) {
	log := st.s.log.With("listen", req.Addr, "listen_id", req.ListenID)
	if st.s.cfg.ListenPolicy == nil {
		err := fmt.Errorf("%w: %s; the host allows no reverse listeners; the host owner can add --allow-listen [BIND:]PORT", ErrListenRefused, req.Addr)
		log.Warn("listen refused", "err", err)
		st.replyAndClose(ctl, mux.StatusNotAllowed, err.Error())
		return
	}
	ap, err := st.s.cfg.ListenPolicy.CheckListen(req.Addr)
	if err != nil {
		log.Warn("listen refused", "err", err)
		status := mux.StatusNotAllowed
		if errors.Is(err, ErrBadTarget) {
			status = mux.StatusBadRequest
		}
		st.replyAndClose(ctl, status, err.Error())
		return
	}
	st.mu.Lock()
	dup := st.listens[req.ListenID]
	st.listens[req.ListenID] = true
	st.mu.Unlock()
	if dup {
		st.replyAndClose(ctl, mux.StatusBadRequest, fmt.Sprintf("listen ID %d is already in use on this session", req.ListenID))
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
		st.replyAndClose(ctl, mux.StatusListenFailed, err.Error())
		return
	}
	defer ln.Close()
	bound := ln.Addr().String()
	if err := mux.Accept(ctl, bound); err != nil {
		mux.Abort(ctl)
		return
	}
	log.Info("reverse listener open", "bound", bound)

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lctx, func() { ln.Close(); mux.Abort(ctl) })
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
		if !st.d.Acquire() {
			log.Warn("reverse connection dropped: too many open streams", "from", conn.RemoteAddr())
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer st.d.Release()
			st.reverse(lctx, log, req.ListenID, lap, conn)
		}()
	}
	mux.Abort(ctl)
	log.Info("reverse listener closed", "bound", bound)
}

// reverse carries one connection accepted on a reverse listener to the viewer.
func (st *serverConn) reverse(ctx context.Context, log *slog.Logger, id uint32, lap netip.AddrPort, conn net.Conn) {
	from := conn.RemoteAddr().String()
	octx, cancel := context.WithTimeout(ctx, mux.OpenTimeout)
	stream, _, err := mux.Open(octx, st.d.Session(), mux.Request{Kind: mux.KindReverse, ListenID: id, Addr: from})
	cancel()
	if err != nil {
		log.Info("reverse connection refused by the viewer", "from", from, "err", err)
		conn.Close()
		return
	}
	ev := ForwardEvent{Viewer: st.s.cfg.Viewer, Kind: mux.KindReverse, Target: from, Addr: lap, Start: time.Now()}
	ev.Sent, ev.Received, ev.Err = st.pipe(ctx, stream, conn)
	st.report(log, ev)
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
