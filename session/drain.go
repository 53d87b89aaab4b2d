package session

import (
	"sync"
	"time"
)

// drainer reads and drops whatever arrives on a channel before the viewer has authenticated.
// A legitimate viewer sends nothing on the tunnel and interactive channels before it hears its
// result, so bytes there come from someone unauthenticated; read at once, they cost the host a
// 64 KiB buffer instead of waiting in SCTP's receive buffer (32 MiB per association) until the
// handshake deadline (docs/session.md, "What a stranger costs").
type drainer struct {
	open chan *channelConn

	mu      sync.Mutex
	ch      *channelConn
	stopped bool
	stop    chan struct{}
	done    chan struct{}
	dropped int64
}

// drain starts a drainer for the channel that will arrive on open. Once halted it hands the
// channel back on open, where openTunnel takes it.
func (c *Conn) drain(open chan *channelConn) *drainer {
	d := &drainer{open: open, stop: make(chan struct{}), done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(d.done)
		var ch *channelConn
		select {
		case ch = <-open:
		case <-d.stop:
			return
		case <-c.done:
			return
		}
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			open <- ch
			return
		}
		d.ch = ch
		d.mu.Unlock()
		buf := make([]byte, sctpMaxMessage)
		for {
			n, err := ch.Read(buf)
			d.mu.Lock()
			d.dropped += int64(n)
			stopped := d.stopped
			d.mu.Unlock()
			if stopped || err != nil {
				break
			}
		}
		_ = ch.SetReadDeadline(time.Time{})
		open <- ch // open holds one and is empty: we took its only channel
	}()
	return d
}

// halt stops the drainer and waits until the channel is back on open; it returns how many
// bytes were dropped.
func (d *drainer) halt() int64 {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.stop)
		if d.ch != nil {
			_ = d.ch.SetReadDeadline(time.Now())
		}
	}
	d.mu.Unlock()
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}
