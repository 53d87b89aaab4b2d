package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/deskport/deskport/mux"
)

// copyBufSize is the size of the pooled copy buffers, one per direction of a forward: a chunk
// read from TCP is one yamux frame in one data-channel message (mux.FrameBody).
const copyBufSize = mux.FrameBody

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// closeWrite half-closes c: CloseWrite for TCP, Close for a yamux stream (whose Close sends a
// FIN and keeps reading).
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// pipe copies a→b and b→a until both directions end, propagating each EOF as a half-close, and
// returns the bytes copied each way. An error in either direction — a failed read, or a failed
// write because that end is gone (EPIPE, ECONNRESET, a reset stream) — or ctx ending aborts
// both ends, so neither outlives the other. Both conns are closed when pipe returns.
func pipe(ctx context.Context, a, b net.Conn) (aToB, bToA int64, err error) {
	return meteredPipe(ctx, a, b, nil)
}

// meteredPipe is pipe that also reports every chunk written, with its direction (true: a→b),
// to count; nil counts nothing.
func meteredPipe(ctx context.Context, a, b net.Conn, count func(aToB bool, n int)) (aToB, bToA int64, err error) {
	var once sync.Once
	kill := func() { once.Do(func() { mux.Abort(a); mux.Abort(b) }) }
	stop := context.AfterFunc(ctx, kill)
	defer stop()

	var wg sync.WaitGroup
	var errAB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		aToB, errAB = copyHalf(b, a, count, true)
		if errAB != nil {
			kill()
		}
	}()
	bToA, err = copyHalf(a, b, count, false)
	if err != nil {
		kill()
	}
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
	if ctx.Err() != nil {
		return aToB, bToA, ctx.Err()
	}
	return aToB, bToA, errors.Join(errAB, err)
}

// copyHalf copies src to dst with a pooled buffer, then half-closes dst. count, when set, is
// told each chunk written (up to copyBufSize bytes), with dir.
func copyHalf(dst, src net.Conn, count func(bool, int), dir bool) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if count != nil && nw > 0 {
				count(dir, nw)
			}
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, closeWrite(dst)
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// Splice joins stream to a reader and a writer (the viewer's stdin and stdout in stdio mode) the
// way a forward joins two connections: the end of r half-closes the stream, so the target sees
// EOF and may still answer; a failed read of r or write to w, a reset by the peer, or ctx ending
// resets the stream, so the host closes the target at once. Splice returns nil when r has ended
// and everything the target sent was written to w, and otherwise the first error. A read of r
// that is still blocked then cannot be interrupted: its goroutine ends when r does (stdin ends
// with the process).
func Splice(ctx context.Context, stream net.Conn, r io.Reader, w io.Writer) error {
	stop := context.AfterFunc(ctx, func() { mux.Abort(stream) })
	defer stop()
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(stream, r)
		if err == nil {
			err = closeWrite(stream)
		}
		done <- err
	}()
	go func() {
		_, err := io.Copy(w, stream)
		done <- err
	}()
	var err error
	for range 2 {
		if err = <-done; err != nil {
			break
		}
	}
	if err != nil {
		mux.Abort(stream)
	} else {
		_ = stream.Close()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
