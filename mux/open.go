package mux

import (
	"context"
	"net"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
)

// Open opens a stream on sess, sends req and reads the peer's reply. It returns the stream once
// the peer accepted it; a refusal is a *RemoteError carrying the peer's message, matching the
// status's sentinel (ErrNotAllowed, ErrUnsupported, ...). ctx bounds the exchange: when it ends
// first, the stream is reset and ctx's error returned. The reply is returned in every case it
// was read (for KindListen, its Message is the bound address).
func Open(ctx context.Context, sess *yamux.Session, req Request) (net.Conn, Reply, error) {
	stream, err := sess.OpenStream()
	if err != nil {
		return nil, Reply{}, err
	}
	stop := context.AfterFunc(ctx, func() { Abort(stream) })
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
		Abort(stream)
		return nil, rep, err
	}
	return stream, rep, nil
}

// OpenFunc opens a stream of req's kind and returns it once the peer accepted it. Features
// (clipboard, files, input, the desktop control stream) take one, so that they can be tested
// over any session and never see how the session was built.
type OpenFunc func(ctx context.Context, req Request) (net.Conn, error)

// Opener returns the OpenFunc that opens streams on sess.
func Opener(sess *yamux.Session) OpenFunc {
	return func(ctx context.Context, req Request) (net.Conn, error) {
		c, _, err := Open(ctx, sess, req)
		return c, err
	}
}

// Abort ends c in both directions at once and stops all pending I/O on it. A yamux stream's
// Close is only a half-close (a FIN: the peer may go on sending and this side reading), so a
// stream is reset instead: the peer's reads and writes fail at once. A TCP connection is closed
// with a RST (no linger), so that its client sees an aborted transfer as an error, not as a
// clean end of data. The deadline unblocks pending I/O on anything else.
func Abort(c net.Conn) {
	if r, ok := c.(interface{ Reset() error }); ok {
		_ = r.Reset()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.SetDeadline(time.Unix(1, 0))
	_ = c.Close()
}
