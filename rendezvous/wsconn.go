package rendezvous

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsConn owns the writing side of one WebSocket, for the server and the clients alike: a
// bounded queue drained by one writer (so that a slow peer never blocks whoever routes a
// message to it), a pinger that drops a peer which stops answering, and one close path. The
// owner runs the single reader itself and, when it returns, calls shutdown.
//
// An idle connection holds as little as it can, because a rendezvous holds one per host: the
// writer is a goroutine only while messages wait (or the connection closes), the pinger a timer
// whose goroutine lives from a ping to its pong, and the queue a slice that is let go when it
// empties. A goroutine for each, and a channel of 256 slots, made two thirds of what an idle
// host cost the rendezvous (docs/bench.md, "Rendezvous under load").
type wsConn struct {
	ws           *websocket.Conn
	log          *slog.Logger
	writeTimeout time.Duration
	pingInterval time.Duration
	pongTimeout  time.Duration
	max          int // messages the queue holds at most

	closing chan struct{}
	once    sync.Once
	code    websocket.StatusCode
	reason  string
	now     bool
	wg      sync.WaitGroup // the writer and a ping in flight

	mu        sync.Mutex
	queue     [][]byte
	room      chan struct{} // closed when the writer takes a message, for enqueueWait
	writing   bool          // a writer goroutine runs
	stopped   bool          // shutdown has begun: no writer or ping may start
	pingTimer *time.Timer
	pongs     int // pongs received, for tests

	// heard, when set, holds when the peer last pinged us (Unix ns; the server's Accept
	// records it): a peer that pings on its own is alive, and pinging it too doubles the
	// keep-alive traffic of every idle host (ping).
	heard *atomic.Int64
}

// heardFor is how recent a peer's own ping must be for ours to be skipped: 1.5 ping intervals,
// 30 s by default, longer than the agent's 25 s interval, so that a host's pings alone keep it
// known alive. A dead host is then noticed up to this long after its last ping (plus the pong
// timeout), instead of after the server's 20 s ping interval; viewers, whose browsers never
// ping, are pinged as before.
func (c *wsConn) heardFor() time.Duration { return c.pingInterval * 3 / 2 }

func newWSConn(ws *websocket.Conn, log *slog.Logger, queue int, writeTimeout, pingInterval, pongTimeout time.Duration) *wsConn {
	c := &wsConn{
		ws: ws, log: log, writeTimeout: writeTimeout, pingInterval: pingInterval, pongTimeout: pongTimeout,
		max: queue, closing: make(chan struct{}),
	}
	c.mu.Lock()
	c.pingTimer = time.AfterFunc(pingInterval, c.ping)
	c.mu.Unlock()
	return c
}

// trustPeerPings makes the pinger skip its ping while the peer's own pings, recorded in heard,
// are recent (heardFor).
func (c *wsConn) trustPeerPings(heard *atomic.Int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heard = heard
}

// kickLocked starts the writer unless it runs already or the connection is shut down. c.mu
// must be held.
func (c *wsConn) kickLocked() {
	if c.writing || c.stopped {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop()
}

// enqueue queues b without blocking. A full queue means the peer does not read: the
// connection is dropped rather than let it hold memory or stall its senders.
func (c *wsConn) enqueue(b []byte) bool {
	if c.isClosing() {
		return false
	}
	c.mu.Lock()
	if len(c.queue) < c.max {
		c.queue = append(c.queue, b)
		c.kickLocked()
		c.mu.Unlock()
		return true
	}
	n := len(c.queue)
	c.mu.Unlock()
	c.log.Warn("dropping a connection that does not read its messages", "queued", n)
	c.closeWith(websocket.StatusPolicyViolation, "send queue overflow: the peer does not read", true)
	return false
}

// enqueueWait queues b, waiting for room until ctx is done or the connection closes.
func (c *wsConn) enqueueWait(ctx context.Context, b []byte) error {
	for {
		if c.isClosing() {
			return ErrSessionClosed
		}
		c.mu.Lock()
		if len(c.queue) < c.max {
			c.queue = append(c.queue, b)
			c.kickLocked()
			c.mu.Unlock()
			return nil
		}
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-c.closing:
			return ErrSessionClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// next takes the first queued message; ok is false when the queue is empty. Then, unless the
// connection is closing (closing true: this writer must do the close), the writer is marked as
// ended under the same lock, so that the next enqueue or close starts another.
func (c *wsConn) next() (b []byte, ok, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go: an idle connection holds none
		if c.isClosing() {
			return nil, false, true
		}
		c.writing = false
		return nil, false, false
	}
	b = c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	return b, true, false
}

// closeWith starts closing the connection. Unless now is set, the writer first sends what is
// already queued (an error message that explains the close, typically) and then does the
// close handshake with code and reason. The first call wins.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string, now bool) {
	c.once.Do(func() {
		c.code, c.reason, c.now = code, reason, now
		close(c.closing)
	})
	c.mu.Lock()
	c.kickLocked() // the writer does the closing
	c.mu.Unlock()
}

// isClosing reports whether closeWith has been called.
func (c *wsConn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// shutdown closes the connection now (if nothing closed it before) and waits for the writer
// and the pinger. The reader must have returned or be about to return.
func (c *wsConn) shutdown() {
	c.closeWith(websocket.StatusInternalError, "", true)
	c.mu.Lock()
	c.stopped = true
	c.pingTimer.Stop()
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *wsConn) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// writeLoop sends the queue until it is empty, or closes the connection once closeWith has
// been called. After a close it stays marked as running, so that no other writer starts.
func (c *wsConn) writeLoop() {
	defer c.wg.Done()
	for !c.isClosing() {
		b, ok, closing := c.next()
		if closing {
			break // the close came in as the queue emptied: next left writing set
		}
		if !ok {
			return
		}
		if err := c.write(context.Background(), b); err != nil {
			c.log.Debug("write failed", "err", err)
			c.closeWith(websocket.StatusInternalError, "", true)
			c.ws.CloseNow()
			return
		}
	}
	if c.now {
		c.ws.CloseNow()
		return
	}
	// Flush what is queued within one write timeout, then close politely.
	ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
	for {
		b, ok, _ := c.next()
		if !ok || c.write(ctx, b) != nil {
			break
		}
	}
	cancel()
	if err := c.ws.Close(c.code, c.reason); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Debug("close handshake failed", "err", err)
	}
	c.ws.CloseNow()
}

// ping runs on the ping timer's goroutine: one ping, and the next one armed after its pong.
func (c *wsConn) ping() {
	c.mu.Lock()
	if c.stopped || c.isClosing() {
		c.mu.Unlock()
		return
	}
	if c.heard != nil {
		if t := c.heard.Load(); t != 0 {
			if since := time.Since(time.Unix(0, t)); since < c.heardFor() {
				// The peer pinged us lately: look again when that ping is heardFor old.
				c.pingTimer.Reset(c.heardFor() - since)
				c.mu.Unlock()
				return
			}
		}
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.pongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if !c.isClosing() {
			c.log.Info("dropping a connection that did not answer a ping", "timeout", c.pongTimeout, "err", err)
			c.closeWith(websocket.StatusPolicyViolation, "no pong", true)
		}
		return
	}
	c.mu.Lock()
	c.pongs++
	if !c.stopped {
		c.pingTimer.Reset(c.pingInterval)
	}
	c.mu.Unlock()
}
