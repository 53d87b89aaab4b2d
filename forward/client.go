package forward

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/deskport/deskport/tempfork/yamux"

	"github.com/deskport/deskport/mux"
)

// Client is the viewer side of port forwarding. Dial, ServeLocal and ServeSOCKS open streams;
// Remote asks the host to listen and needs Serve running to receive the connections it
// forwards.
type Client struct {
	sess *yamux.Session
	log  *slog.Logger

	// Pick, when set, chooses the session each new forward stream opens on (the direct TCP
	// lane when it is up, session.Conn.Bulk); nil opens every stream on the session given to
	// NewClient, which Serve always accepts on. A remote (-R) listener's control stream always
	// opens on that session: its connections come back there, and it must outlive a lane
	// (which ends when the viewer changes networks).
	Pick func() *yamux.Session

	// Dialer connects to local targets of reverse forwards; nil means a net.Dialer with
	// DialTimeout. Set it before calling Serve.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	nextID  atomic.Uint32
	mu      sync.Mutex
	listens map[uint32]string // listen ID → local target
}

// NewClient returns a client for the viewer side of sess; logger nil discards.
func NewClient(sess *yamux.Session, logger *slog.Logger) *Client {
	return &Client{
		sess:    sess,
		log:     orDiscard(logger),
		listens: map[uint32]string{},
	}
}

// open opens a stream with mux.Open and gives a refusal this package's sentinels; refused is
// the sentinel for StatusNotAllowed.
func (c *Client) open(ctx context.Context, req mux.Request, refused error) (net.Conn, mux.Reply, error) {
	sess := c.sess
	if c.Pick != nil {
		sess = c.Pick()
	}
	stream, rep, err := mux.Open(ctx, sess, req)
	return stream, rep, relabel(err, refused)
}

// Dial asks the host to connect to target ("host:port"); the host checks it against its
// policy. A refusal wraps ErrTargetRefused and carries the host's explanation.
func (c *Client) Dial(ctx context.Context, target string) (net.Conn, error) {
	if err := checkAddrText(target); err != nil {
		return nil, err
	}
	stream, _, err := c.open(ctx, mux.Request{Kind: mux.KindTCP, Addr: target}, ErrTargetRefused)
	if err != nil {
		return nil, fmt.Errorf("forward: open %s: %w", target, err)
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
			return fmt.Errorf("forward: accept: %w", err)
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
		dctx, cancel := context.WithTimeout(ctx, DialTimeout+mux.OpenTimeout)
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
	octx, cancel := context.WithTimeout(ctx, mux.OpenTimeout)
	ctl, rep, err := mux.Open(octx, c.sess, mux.Request{Kind: mux.KindListen, ListenID: id, Addr: bind})
	err = relabel(err, ErrListenRefused)
	cancel()
	if err != nil {
		return fmt.Errorf("forward: remote listen %s: %w", bind, err)
	}
	stop := context.AfterFunc(ctx, func() { mux.Abort(ctl) })
	defer stop()
	if ready != nil {
		ready(rep.Message)
	}
	_, err = io.Copy(io.Discard, ctl) // the host never writes after the reply; this waits for the end
	mux.Abort(ctl)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = io.EOF
	}
	return fmt.Errorf("forward: remote listener %s closed by the host: %w", rep.Message, err)
}

// Serve accepts the streams the host opens (reverse connections for Remote) until ctx ends or
// the session closes, and waits for them before returning. A reverse stream for a listen ID
// this client did not request is refused, and so is any other kind.
func (c *Client) Serve(ctx context.Context) error {
	d := mux.NewDispatcher(c.sess, mux.Config{Side: "viewer", Logger: c.log})
	d.Handle(mux.KindReverse, c.handleReverse)
	return d.Serve(ctx)
}

func (c *Client) handleReverse(ctx context.Context, stream net.Conn, req mux.Request) {
	c.mu.Lock()
	target, ok := c.listens[req.ListenID]
	c.mu.Unlock()
	if !ok {
		c.log.Warn("reverse stream for an unknown listener refused", "listen_id", req.ListenID, "from", req.Addr)
		mux.Refuse(stream, mux.StatusNotAllowed, fmt.Sprintf("the viewer has no listener %d", req.ListenID))
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
		mux.Refuse(stream, statusForDialErr(err), err.Error())
		return
	}
	if err := mux.Accept(stream, ""); err != nil {
		conn.Close()
		mux.Abort(stream)
		return
	}
	_, _, _ = pipe(ctx, stream, conn)
}
