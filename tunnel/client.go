package tunnel

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

	"github.com/deskport/deskport/tempfork/yamux"
)

// Client is the viewer side of the tunnel. Dial, ServeLocal and ServeSOCKS open streams; Remote
// asks the host to listen and needs Serve running to receive the connections it forwards.
type Client struct {
	sess *yamux.Session
	log  *slog.Logger

	// Dialer connects to local targets of reverse forwards; nil means a net.Dialer with
	// DialTimeout. Set it before calling Serve.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	slots   chan struct{}
	nextID  atomic.Uint32
	mu      sync.Mutex
	listens map[uint32]string // listen ID → local target
}

// NewClient returns a client for the viewer side of sess; logger nil discards.
func NewClient(sess *yamux.Session, logger *slog.Logger) *Client {
	return &Client{
		sess:    sess,
		log:     orDiscard(logger),
		slots:   make(chan struct{}, DefaultMaxStreams),
		listens: map[uint32]string{},
	}
}

// open opens a stream and exchanges the open request and reply. ctx bounds the exchange.
func (c *Client) open(ctx context.Context, req Request) (*yamux.Stream, Reply, error) {
	stream, err := c.sess.OpenStream()
	if err != nil {
		return nil, Reply{}, err
	}
	stop := context.AfterFunc(ctx, func() { abort(stream) })
	err = WriteRequest(stream, req)
	var rep Reply
	if err == nil {
		rep, err = ReadReply(stream)
	}
	if !stop() {
		err = ctx.Err()
	}
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		abort(stream)
		return nil, rep, err
	}
	return stream, rep, nil
}

// Open opens a stream of any kind (file transfer, clipboard, input, ...) and returns it once
// the host accepted the request; a refusal is an error carrying the host's message.
func (c *Client) Open(ctx context.Context, req Request) (net.Conn, Reply, error) {
	stream, rep, err := c.open(ctx, req)
	if err != nil {
		return nil, rep, err
	}
	return stream, rep, nil
}

// Dial asks the host to connect to target ("host:port"); the host checks it against its
// policy. A refusal wraps ErrTargetRefused and carries the host's explanation.
func (c *Client) Dial(ctx context.Context, target string) (net.Conn, error) {
	if err := checkAddrText(target); err != nil {
		return nil, err
	}
	stream, _, err := c.open(ctx, Request{Kind: KindTCP, Addr: target})
	if err != nil {
		return nil, fmt.Errorf("tunnel: open %s: %w", target, err)
	}
	return stream, nil
}

// serveListener accepts connections on ln until ctx ends, the session closes or ln fails,
// running handle for each; it waits for the handlers before returning.
func (c *Client) serveListener(ctx context.Context, ln net.Listener, handle func(ctx context.Context, conn net.Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-c.sess.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tunnel: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(ctx, conn)
		}()
	}
}

// ServeLocal runs an ssh -L forward: each connection accepted on ln is carried to target
// through the host. It returns nil when ctx ends or the session closes, after closing ln and
// every forward it started.
func (c *Client) ServeLocal(ctx context.Context, ln net.Listener, target string) error {
	return c.serveListener(ctx, ln, func(ctx context.Context, conn net.Conn) {
		dctx, cancel := context.WithTimeout(ctx, DialTimeout+OpenTimeout)
		stream, err := c.Dial(dctx, target)
		cancel()
		if err != nil {
			c.log.Warn("forward failed", "from", conn.RemoteAddr(), "target", target, "err", err)
			conn.Close()
			return
		}
		_, _, _ = pipe(ctx, conn, stream)
	})
}

// Remote runs an ssh -R forward: the host listens at bind ("addr:port", checked against the
// host's listen policy) and each connection it accepts is carried back and dialed to the local
// target. ready, if set, is called with the address the host actually bound. Serve must be
// running for the connections to arrive. Remote returns nil when ctx ends, and an error when
// the host refuses or ends the listener.
func (c *Client) Remote(ctx context.Context, bind, target string, ready func(bound string)) error {
	id := c.nextID.Add(1)
	c.mu.Lock()
	c.listens[id] = target
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.listens, id)
		c.mu.Unlock()
	}()
	octx, cancel := context.WithTimeout(ctx, OpenTimeout)
	ctl, rep, err := c.open(octx, Request{Kind: KindListen, ListenID: id, Addr: bind})
	cancel()
	if err != nil {
		if re, ok := errors.AsType[*remoteError](err); ok && re.status == StatusNotAllowed {
			err = &remoteError{status: re.status, base: ErrListenRefused, msg: re.msg}
		}
		return fmt.Errorf("tunnel: remote listen %s: %w", bind, err)
	}
	stop := context.AfterFunc(ctx, func() { abort(ctl) })
	defer stop()
	if ready != nil {
		ready(rep.Message)
	}
	_, err = io.Copy(io.Discard, ctl) // the host never writes after the reply; this waits for the end
	abort(ctl)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = io.EOF
	}
	return fmt.Errorf("tunnel: remote listener %s closed by the host: %w", rep.Message, err)
}

// Serve accepts the streams the host opens (reverse connections for Remote) until ctx ends or
// the session closes, and waits for them before returning. A reverse stream for a listen ID
// this client did not request is refused.
func (c *Client) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		stream, err := c.sess.AcceptStreamWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil || sessionEnded(err) {
				return nil
			}
			return fmt.Errorf("tunnel: accept stream: %w", err)
		}
		select {
		case c.slots <- struct{}{}:
		default:
			_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
			_ = WriteReply(stream, Reply{Status: StatusTooManyStreams, Message: "the viewer has too many open streams"})
			_ = stream.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-c.slots }()
			c.handleReverse(ctx, stream)
		}()
	}
}

func (c *Client) handleReverse(ctx context.Context, stream *yamux.Stream) {
	reply := func(s Status, msg string) {
		_ = stream.SetWriteDeadline(time.Now().Add(OpenTimeout))
		_ = WriteReply(stream, Reply{Status: s, Message: msg})
		_ = stream.SetWriteDeadline(time.Time{})
	}
	_ = stream.SetReadDeadline(time.Now().Add(OpenTimeout))
	req, err := ReadRequest(stream)
	_ = stream.SetReadDeadline(time.Time{})
	if err != nil {
		reply(StatusBadRequest, err.Error())
		stream.Close()
		return
	}
	if req.Kind != KindReverse {
		reply(StatusUnsupported, fmt.Sprintf("the viewer does not accept %v streams", req.Kind))
		stream.Close()
		return
	}
	c.mu.Lock()
	target, ok := c.listens[req.ListenID]
	c.mu.Unlock()
	if !ok {
		c.log.Warn("reverse stream for an unknown listener refused", "listen_id", req.ListenID, "from", req.Addr)
		reply(StatusNotAllowed, fmt.Sprintf("the viewer has no listener %d", req.ListenID))
		stream.Close()
		return
	}
	dial := c.Dialer
	if dial == nil {
		d := &net.Dialer{Timeout: DialTimeout}
		dial = d.DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	conn, err := dial(dctx, "tcp", target)
	cancel()
	if err != nil {
		c.log.Warn("reverse forward failed", "target", target, "from", req.Addr, "err", err)
		reply(statusForDialErr(err), err.Error())
		stream.Close()
		return
	}
	reply(StatusOK, "")
	_, _, _ = pipe(ctx, stream, conn)
}

// statusOf returns the reply status carried by an error from Dial, if any.
func statusOf(err error) (Status, bool) {
	var re *remoteError
	if errors.As(err, &re) {
		return re.status, true
	}
	return 0, false
}
