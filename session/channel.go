package session

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
)

// Flow control for detached data channels. pion's detached Write never blocks and queues without
// limit, so a fast sender would buffer a whole file in memory. channelConn blocks a writer while
// more than highWater bytes wait in the channel's send buffer and wakes it when the buffer drains
// below lowWater. The figures keep enough in flight to fill the SCTP congestion window on long
// paths (see docs/tunnel.md) while bounding memory per channel.
const (
	highWater = 4 << 20
	lowWater  = 1 << 20
)

// channelConn is one detached data channel with message semantics (one Write, one message) and
// blocking, bounded writes. It satisfies tunnel.MessageConn and the io.ReadWriter that auth uses.
type channelConn struct {
	dc  *webrtc.DataChannel
	rwc datachannel.ReadWriteCloserDeadliner

	mu      sync.Mutex
	drained chan struct{} // closed and replaced whenever the buffer drops below lowWater

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

func newChannelConn(dc *webrtc.DataChannel) (*channelConn, error) {
	rwc, err := dc.DetachWithDeadline()
	if err != nil {
		return nil, err
	}
	c := &channelConn{dc: dc, rwc: rwc, drained: make(chan struct{}), closed: make(chan struct{})}
	dc.SetBufferedAmountLowThreshold(lowWater)
	dc.OnBufferedAmountLow(func() {
		c.mu.Lock()
		close(c.drained)
		c.drained = make(chan struct{})
		c.mu.Unlock()
	})
	return c, nil
}

func (c *channelConn) Read(p []byte) (int, error) {
	n, err := c.rwc.Read(p)
	if err != nil {
		select {
		case <-c.closed:
			return n, io.EOF
		default:
		}
		if errors.Is(err, io.ErrClosedPipe) {
			err = io.EOF
		}
	}
	return n, err
}

func (c *channelConn) Write(p []byte) (int, error) {
	for {
		c.mu.Lock()
		wait := c.drained
		c.mu.Unlock()
		if c.dc.BufferedAmount() <= highWater {
			break
		}
		// The low-water callback may have fired between the check and here; re-check on a
		// timer as well so a missed wake-up costs at most a few milliseconds, never a hang.
		select {
		case <-wait:
		case <-c.closed:
			return 0, io.ErrClosedPipe
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-c.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	return c.rwc.Write(p)
}

// SetReadDeadline lets the auth handshake bound its reads.
func (c *channelConn) SetReadDeadline(t time.Time) error { return c.rwc.SetReadDeadline(t) }

func (c *channelConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		// pion's Close only asks the peer to reset the stream; a Read stays blocked until it
		// does, which never happens when the peer is gone. An expired deadline wakes the
		// reader now (and leaves no pion timer goroutine behind).
		_ = c.rwc.SetReadDeadline(time.Now())
		c.closeErr = c.rwc.Close()
	})
	return c.closeErr
}
