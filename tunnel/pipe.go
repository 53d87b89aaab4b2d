package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// copyBufSize is the size of the pooled copy buffers, one per direction of a forward.
const copyBufSize = 64 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// closeWrite half-closes c: CloseWrite for TCP, Close for a yamux stream (whose Close sends a
// FIN and keeps reading).
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// abort stops all pending I/O on c. A yamux stream's Close is only a half-close, so the
// deadline is what unblocks a pending Read.
func abort(c net.Conn) {
	_ = c.SetDeadline(time.Unix(1, 0))
	_ = c.Close()
}

// pipe copies a→b and b→a until both directions end, propagating each EOF as a half-close, and
// returns the bytes copied each way. An error in either direction, or ctx ending, aborts both.
// Both conns are closed when pipe returns.
func pipe(ctx context.Context, a, b net.Conn) (aToB, bToA int64, err error) {
	var once sync.Once
	kill := func() { once.Do(func() { abort(a); abort(b) }) }
	stop := context.AfterFunc(ctx, kill)
	defer stop()

	var wg sync.WaitGroup
	var errAB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		aToB, errAB = copyHalf(b, a)
		if errAB != nil {
			kill()
		}
	}()
	bToA, err = copyHalf(a, b)
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

// copyHalf copies src to dst with a pooled buffer, then half-closes dst.
func copyHalf(dst, src net.Conn) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
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
