// Package msgpipe is an in-memory, message-oriented, bidirectional pipe that behaves like a
// detached WebRTC data channel: each Write sends one message, each Read returns one whole
// message, and a Read with a buffer smaller than the next message fails with io.ErrShortBuffer
// (the message stays queued, so a retry with a larger buffer succeeds). Writes block while the
// peer has more than the buffer limit queued, the way a flow-controlled data channel writer
// does. Tests of the mux and forward packages use it in place of pion.
package msgpipe

import (
	"errors"
	"io"
	"sync"
)

// DefaultLimit is the number of queued bytes beyond which a Write blocks.
const DefaultLimit = 1 << 20

// ErrTooLarge is returned by Write for a message larger than the pipe's maximum message size.
var ErrTooLarge = errors.New("msgpipe: message larger than the maximum message size")

// MaxMessage is the largest message a Write accepts, as with pion's default SCTP maximum
// message size.
const MaxMessage = 256 << 10

// queue is one direction of the pipe.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	msgs   [][]byte
	bytes  int
	limit  int
	wclose bool // the writing end closed: reads drain the queue, then io.EOF
	rclose bool // the reading end closed: writes fail
}

func newQueue(limit int) *queue {
	q := &queue{limit: limit}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Conn is one end of a pipe. It is safe for concurrent use.
type Conn struct {
	in, out   *queue
	closeOnce sync.Once
}

// New returns the two ends of a pipe with DefaultLimit bytes of buffering each way.
func New() (a, b *Conn) { return NewLimit(DefaultLimit) }

// NewLimit returns the two ends of a pipe that buffers up to limit bytes each way. A message is
// always accepted when the queue is empty, whatever its size.
func NewLimit(limit int) (a, b *Conn) {
	ab, ba := newQueue(limit), newQueue(limit)
	return &Conn{in: ba, out: ab}, &Conn{in: ab, out: ba}
}

// Read returns the next whole message. It fails with io.ErrShortBuffer, leaving the message
// queued, when p is too small; with io.EOF once the peer has closed and the queue is drained;
// and with io.ErrClosedPipe after this end was closed.
func (c *Conn) Read(p []byte) (int, error) {
	q := c.in
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.rclose {
			return 0, io.ErrClosedPipe
		}
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			if len(m) > len(p) {
				return 0, io.ErrShortBuffer
			}
			n := copy(p, m)
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.bytes -= n
			q.cond.Broadcast()
			return n, nil
		}
		if q.wclose {
			return 0, io.EOF
		}
		q.cond.Wait()
	}
}

// Write sends p as one message, blocking while the peer has more than the limit queued.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > MaxMessage {
		return 0, ErrTooLarge
	}
	q := c.out
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.wclose || q.rclose {
			return 0, io.ErrClosedPipe
		}
		if q.bytes == 0 || q.bytes+len(p) <= q.limit {
			break
		}
		q.cond.Wait()
	}
	m := make([]byte, len(p))
	copy(m, p)
	q.msgs = append(q.msgs, m)
	q.bytes += len(p)
	q.cond.Broadcast()
	return len(p), nil
}

// Close closes this end. Messages already sent stay readable by the peer, which then sees
// io.EOF; blocked calls on this end return. Close is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.out.mu.Lock()
		c.out.wclose = true
		c.out.cond.Broadcast()
		c.out.mu.Unlock()

		c.in.mu.Lock()
		c.in.rclose = true
		c.in.msgs = nil
		c.in.bytes = 0
		c.in.cond.Broadcast()
		c.in.mu.Unlock()
	})
	return nil
}
