package clipboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/mux"
)

// Client is the viewer side of one clipboard stream.
type Client struct {
	conn    net.Conn
	updates chan string
	replies chan error // one per MsgSet, in order

	setMu sync.Mutex
	stale int // replies still due for Sets that gave up waiting; guarded by setMu
	wmu   sync.Mutex

	done      chan struct{}
	err       error // why the stream ended; set before done closes
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// Dial opens the clipboard stream. Updates from the host start arriving at once.
func Dial(ctx context.Context, open mux.OpenFunc) (*Client, error) {
	conn, err := open(ctx, mux.Request{Kind: mux.KindClipboard, Payload: []byte{Version}})
	if err != nil {
		return nil, fmt.Errorf("clipboard: open: %w", err)
	}
	c := &Client{
		conn:    conn,
		updates: make(chan string, 1),
		replies: make(chan error, 16),
		done:    make(chan struct{}),
	}
	c.wg.Add(1)
	go c.read()
	return c, nil
}

// Updates delivers the host's clipboard text each time it changes. Only the newest text is
// kept if the receiver falls behind. The channel closes when the stream ends; Err says why.
func (c *Client) Updates() <-chan string { return c.updates }

// Err returns why the stream ended, or nil while it runs or after a normal close.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Client) read() {
	defer c.wg.Done()
	defer close(c.updates)
	defer close(c.done)
	for {
		t, body, _, err := readMessage(c.conn, MaxMessage)
		if err != nil {
			if !c.closed.Load() {
				c.err = fmt.Errorf("clipboard: stream ended: %w", err)
			}
			return
		}
		switch t {
		case MsgUpdate:
			select {
			case c.updates <- string(body):
			default:
				select { // replace the undelivered older text
				case <-c.updates:
				default:
				}
				c.updates <- string(body)
			}
		case MsgAck:
			c.reply(nil)
		case MsgError:
			c.reply(fmt.Errorf("%w: %s", ErrRefused, body))
		default:
			c.err = fmt.Errorf("clipboard: %w: the host sent message type %d", ErrBadMessage, t)
			abortConn(c.conn)
			return
		}
	}
}

func (c *Client) reply(err error) {
	select {
	case c.replies <- err:
	default: // more replies than sets: a confused host; drop
	}
}

// Set replaces the host's clipboard with text and returns once the host applied it, or with
// the host's reason for refusing it (ErrRefused), for example a text over its size limit.
func (c *Client) Set(ctx context.Context, text string) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.wmu.Lock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	err := writeMessage(c.conn, MsgSet, []byte(text))
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("clipboard: set: %w", err)
	}
	for {
		select {
		case err := <-c.replies:
			if c.stale > 0 {
				c.stale--
				continue
			}
			return err
		case <-c.done:
			if c.err != nil {
				return c.err
			}
			return errors.New("clipboard: the stream closed before the host answered")
		case <-ctx.Done():
			c.stale++
			return ctx.Err()
		}
	}
}

// Close ends the stream and waits for the reader.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		abortConn(c.conn)
	})
	c.wg.Wait()
	return nil
}
