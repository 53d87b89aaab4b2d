package mux

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// MessageConn is a message-oriented connection such as a detached WebRTC data channel: each
// Write sends one message and each Read returns one whole message, failing with
// io.ErrShortBuffer when p is too small. Close must unblock pending Read and Write calls. Write
// is expected to block while too much data is queued (flow control is the MessageConn's job).
type MessageConn interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

// Adapter defaults.
const (
	// DefaultMaxMessage is the default largest message written. 16 KiB is the size every
	// WebRTC implementation accepts without fragmentation trouble.
	DefaultMaxMessage = 16 << 10
	// DefaultMaxReadMessage is the default read buffer, the largest message accepted.
	DefaultMaxReadMessage = 64 << 10
	// TunnelMessage is the message size deskport's sessions write on their yamux channels: the
	// largest every deskport peer reads (DefaultMaxReadMessage, and the SCTP limit it announces),
	// and well under what browsers accept. Four times DefaultMaxMessage: a quarter of the
	// messages, so of the wake-ups and bookkeeping per message on both ends (docs/bench.md,
	// "Where the vnet 0 ms gap went").
	TunnelMessage = 64 << 10
	// FrameBody is the largest yamux data-frame body that fits one TunnelMessage with its
	// 12-byte header: a writer that copies in chunks of this size (forward) sends each chunk as
	// one frame in one message.
	FrameBody   = TunnelMessage - yamuxHeader
	yamuxHeader = 12 // hashicorp/yamux spec.md
)

// AdapterConfig tunes NewStreamConn. The zero value is usable.
type AdapterConfig struct {
	// MaxMessage is the largest message written; Writes are split into messages of at most this
	// size. Zero means DefaultMaxMessage.
	MaxMessage int
	// MaxReadMessage is the size of the read buffer and thus the largest message the peer may
	// send. Zero means DefaultMaxReadMessage.
	MaxReadMessage int
	// LocalAddr and RemoteAddr are what the conn reports; nil means a placeholder address.
	LocalAddr, RemoteAddr net.Addr
}

// Validate refuses negative sizes.
func (c AdapterConfig) Validate() error {
	if c.MaxMessage < 0 || c.MaxReadMessage < 0 {
		return errors.New("mux: adapter message sizes must not be negative")
	}
	return nil
}

type msgAddr string

func (a msgAddr) Network() string { return "datachannel" }
func (a msgAddr) String() string  { return string(a) }

// streamConn is the net.Conn returned by NewStreamConn. A reader goroutine owns mc.Read and a
// writer goroutine owns mc.Write, so that Read and Write can honour deadlines even though the
// MessageConn has none; both stop when Close closes mc.
type streamConn struct {
	mc         MessageConn
	maxMsg     int
	maxRead    int
	laddr      net.Addr
	raddr      net.Addr
	closed     chan struct{}
	closeOnce  sync.Once
	closeErr   error
	wg         sync.WaitGroup
	rdl, wdl   deadline
	msgs       chan []byte   // reader goroutine → Read: one message, buffer still owned by the reader
	release    chan struct{} // Read → reader goroutine: done with the message buffer
	readDone   chan struct{} // closed when the reader goroutine exits; readErr is then set
	readErr    error
	readMu     sync.Mutex
	pending    []byte // remainder of the current message (guarded by readMu)
	wreq       chan []byte
	wres       chan error
	writeMu    sync.Mutex
	wbuf       []byte // copy of the chunk in flight (guarded by writeMu)
	inflight   bool   // a chunk was handed to the writer and its result not yet collected
	stickyWErr error
}

// NewStreamConn adapts a message-oriented connection to a byte stream. Writes are split into
// messages of at most cfg.MaxMessage bytes; a Read returns bytes from the current message and
// keeps the remainder for the next Read. Read and Write deadlines work as for net.Conn and
// return os.ErrDeadlineExceeded. As with TCP, a Write that times out may have committed part
// of p; the returned count says how much. Close closes mc, unblocks pending calls and waits
// for the conn's goroutines.
func NewStreamConn(mc MessageConn, cfg AdapterConfig) net.Conn {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxReadMessage <= 0 {
		cfg.MaxReadMessage = DefaultMaxReadMessage
	}
	c := &streamConn{
		mc:       mc,
		maxMsg:   cfg.MaxMessage,
		maxRead:  cfg.MaxReadMessage,
		laddr:    cfg.LocalAddr,
		raddr:    cfg.RemoteAddr,
		closed:   make(chan struct{}),
		rdl:      makeDeadline(),
		wdl:      makeDeadline(),
		msgs:     make(chan []byte),
		release:  make(chan struct{}, 1),
		readDone: make(chan struct{}),
		wreq:     make(chan []byte),
		wres:     make(chan error, 1),
		wbuf:     make([]byte, cfg.MaxMessage),
	}
	if c.laddr == nil {
		c.laddr = msgAddr("local")
	}
	if c.raddr == nil {
		c.raddr = msgAddr("remote")
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

func (c *streamConn) readLoop() {
	defer c.wg.Done()
	defer close(c.readDone)
	buf := make([]byte, c.maxRead)
	for {
		n, err := c.mc.Read(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				err = fmt.Errorf("mux: peer sent a message larger than %d bytes: %w", c.maxRead, err)
			}
			select {
			case <-c.closed:
				err = net.ErrClosed
			default:
			}
			c.readErr = err
			return
		}
		if n == 0 {
			continue
		}
		select {
		case c.msgs <- buf[:n]:
		case <-c.closed:
			c.readErr = net.ErrClosed
			return
		}
		select {
		case <-c.release:
		case <-c.closed:
			c.readErr = net.ErrClosed
			return
		}
	}
}

func (c *streamConn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.wreq:
			n, err := c.mc.Write(b)
			if err == nil && n < len(b) {
				err = io.ErrShortWrite
			}
			c.wres <- err
		case <-c.closed:
			return
		}
	}
}

func (c *streamConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *streamConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	if isClosedChan(c.rdl.wait()) {
		return 0, os.ErrDeadlineExceeded
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.pending) > 0 {
		return c.consume(p), nil
	}
	select {
	case m := <-c.msgs:
		c.pending = m
		return c.consume(p), nil
	case <-c.readDone:
		if c.isClosed() {
			return 0, net.ErrClosed
		}
		return 0, c.readErr
	case <-c.rdl.wait():
		return 0, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

// consume copies from the pending message and hands the buffer back to the reader goroutine
// once it is used up. readMu is held.
func (c *streamConn) consume(p []byte) int {
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
		c.release <- struct{}{}
	}
	return n
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		if c.isClosed() {
			return n, net.ErrClosed
		}
		if c.stickyWErr != nil {
			return n, c.stickyWErr
		}
		if c.inflight {
			// A chunk committed by an earlier, timed-out Write is still being written.
			if err := c.collect(); err != nil {
				return n, err
			}
		}
		if len(p) == 0 {
			return n, nil
		}
		if isClosedChan(c.wdl.wait()) {
			return n, os.ErrDeadlineExceeded
		}
		k := copy(c.wbuf, p[:min(len(p), c.maxMsg)])
		select {
		case c.wreq <- c.wbuf[:k]:
		case <-c.wdl.wait():
			return n, os.ErrDeadlineExceeded
		case <-c.closed:
			return n, net.ErrClosed
		}
		// From here the chunk is committed: it will be written unless the conn closes.
		c.inflight = true
		n += k
		p = p[k:]
		if err := c.collect(); err != nil {
			return n, err
		}
	}
}

// collect waits for the in-flight chunk's result. writeMu is held.
func (c *streamConn) collect() error {
	select {
	case err := <-c.wres:
		c.inflight = false
		if err != nil {
			c.stickyWErr = err
		}
		return err
	case <-c.wdl.wait():
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
}

func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.mc.Close()
		c.wg.Wait()
		c.rdl.set(time.Time{})
		c.wdl.set(time.Time{})
	})
	return c.closeErr
}

func (c *streamConn) LocalAddr() net.Addr  { return c.laddr }
func (c *streamConn) RemoteAddr() net.Addr { return c.raddr }

func (c *streamConn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.rdl.set(t)
	return nil
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.wdl.set(t)
	return nil
}

// deadline is a resettable deadline whose wait channel is closed when it passes; the same
// construction as net.Pipe's.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for its func to close cancel
	}
	d.timer = nil
	closed := isClosedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
