package yamux

import (
	"io"
	"sync"
)

// deskport: a stream's received bytes wait in a queue of fixed-size chunks taken from a pool
// shared by every stream, instead of a bytes.Buffer.
//
// A bytes.Buffer grows by doubling into newly allocated, zeroed memory whenever the unread part
// is more than half its capacity, and otherwise slides the unread part to the front: a stream
// whose reader lags behind a large window (tens of MiB) zeroes and first-touches a new buffer
// at every doubling, leaves the old one to the garbage collector, and then copies up to a
// window's worth of bytes at every refill. On a machine where a first touch of a page is
// expensive that was a fifth of a bulk receiver's CPU time. Chunks are filled in place, read
// in place, and go back to the pool once read, so a busy stream reuses the same memory and
// holds at most its unread bytes plus one partly filled chunk.

// recvChunkSize is the size of a pooled chunk.
const recvChunkSize = 64 << 10

var recvChunkPool = sync.Pool{New: func() any {
	b := make([]byte, 0, recvChunkSize)
	return &b
}}

// recvBuffer is a FIFO of received bytes. The zero value is empty and ready. It is not safe
// for concurrent use (the stream's recvLock guards it).
type recvBuffer struct {
	chunks []*[]byte // filled chunks; the bytes of each are (*chunk)[:len]
	off    int       // read offset in the first chunk
	n      int       // unread bytes
}

// Len returns the number of unread bytes.
func (r *recvBuffer) Len() int { return r.n }

// readFrom appends everything src yields until io.EOF (src is a frame body behind an
// io.LimitedReader), filling the last chunk's spare room before taking new chunks.
func (r *recvBuffer) readFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		var c *[]byte
		if k := len(r.chunks); k > 0 && len(*r.chunks[k-1]) < cap(*r.chunks[k-1]) {
			c = r.chunks[k-1]
		} else {
			c = recvChunkPool.Get().(*[]byte)
			*c = (*c)[:0]
			r.chunks = append(r.chunks, c)
		}
		m, err := src.Read((*c)[len(*c):cap(*c)])
		*c = (*c)[:len(*c)+m]
		r.n += m
		total += int64(m)
		if err == io.EOF {
			r.dropEmptyTail()
			return total, nil
		}
		if err != nil {
			r.dropEmptyTail()
			return total, err
		}
	}
}

// dropEmptyTail returns a last chunk that received nothing to the pool.
func (r *recvBuffer) dropEmptyTail() {
	if k := len(r.chunks); k > 0 && len(*r.chunks[k-1]) == 0 {
		recvChunkPool.Put(r.chunks[k-1])
		r.chunks[k-1] = nil
		r.chunks = r.chunks[:k-1]
	}
}

// Read copies unread bytes into b and returns the chunks it emptied to the pool.
func (r *recvBuffer) Read(b []byte) int {
	n := 0
	for n < len(b) && len(r.chunks) > 0 {
		c := r.chunks[0]
		k := copy(b[n:], (*c)[r.off:])
		n += k
		r.off += k
		r.n -= k
		if r.off < len(*c) {
			break // b is full
		}
		recvChunkPool.Put(c)
		r.chunks[0] = nil
		r.chunks = r.chunks[1:]
		r.off = 0
	}
	if len(r.chunks) == 0 {
		r.chunks = nil
	}
	return n
}

// release returns every chunk to the pool and empties the buffer.
func (r *recvBuffer) release() {
	for i, c := range r.chunks {
		recvChunkPool.Put(c)
		r.chunks[i] = nil
	}
	r.chunks, r.off, r.n = nil, 0, 0
}
