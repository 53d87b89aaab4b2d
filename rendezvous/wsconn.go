package rendezvous

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// wsConn owns the writing side of one WebSocket, for the server and the clients alike: a
// bounded queue drained by one writer goroutine (so that a slow peer never blocks whoever
// routes a message to it), a pinger that drops a peer which stops answering, and one close
// path. The owner runs the single reader itself and, when it returns, calls shutdown.
type wsConn struct {
	ws           *websocket.Conn
	log          *slog.Logger
	writeTimeout time.Duration
	pingInterval time.Duration
	pongTimeout  time.Duration

	out     chan []byte
	closing chan struct{}
	once    sync.Once
	code    websocket.StatusCode
	reason  string
	now     bool
	wg      sync.WaitGroup
}

func newWSConn(ws *websocket.Conn, log *slog.Logger, queue int, writeTimeout, pingInterval, pongTimeout time.Duration) *wsConn {
	c := &wsConn{
		ws: ws, log: log, writeTimeout: writeTimeout, pingInterval: pingInterval, pongTimeout: pongTimeout,
		out: make(chan []byte, queue), closing: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.writeLoop()
	go c.pingLoop()
	return c
}

// enqueue queues b without blocking. A full queue means the peer does not read: the
// connection is dropped rather than let it hold memory or stall its senders.
func (c *wsConn) enqueue(b []byte) bool {
	select {
	case <-c.closing:
		return false
	default:
	}
	select {
	case c.out <- b:
		return true
	default:
		c.log.Warn("dropping a connection that does not read its messages", "queued", len(c.out))
		c.closeWith(websocket.StatusPolicyViolation, "send queue overflow: the peer does not read", true)
		return false
	}
}

// enqueueWait queues b, waiting for room until ctx is done or the connection closes.
func (c *wsConn) enqueueWait(ctx context.Context, b []byte) error {
	if c.isClosing() {
		return ErrSessionClosed
	}
	select {
	case c.out <- b:
		return nil
	case <-c.closing:
		return ErrSessionClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeWith starts closing the connection. Unless now is set, the writer first sends what is
// already queued (an error message that explains the close, typically) and then does the
// close handshake with code and reason. The first call wins.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string, now bool) {
	c.once.Do(func() {
		c.code, c.reason, c.now = code, reason, now
		close(c.closing)
	})
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
	c.wg.Wait()
}

func (c *wsConn) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *wsConn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.out:
			if err := c.write(context.Background(), b); err != nil {
				c.log.Debug("write failed", "err", err)
				c.closeWith(websocket.StatusInternalError, "", true)
				c.ws.CloseNow()
				return
			}
		case <-c.closing:
			if c.now {
				c.ws.CloseNow()
				return
			}
			// Flush what is queued within one write timeout, then close politely.
			ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
			func() {
				for {
					select {
					case b := <-c.out:
						if c.write(ctx, b) != nil {
							return
						}
					default:
						return
					}
				}
			}()
			cancel()
			if err := c.ws.Close(c.code, c.reason); err != nil && !errors.Is(err, context.Canceled) {
				c.log.Debug("close handshake failed", "err", err)
			}
			c.ws.CloseNow()
			return
		}
	}
}

func (c *wsConn) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
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
	}
}
