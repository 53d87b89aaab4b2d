package lane

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// TLS cuts what it is given into records of 16 KiB and writes each to the TCP connection with
// a system call of its own; it reads each record with one too. A bulk stream's yamux frame of
// 256 KiB was 16 writes on one end and about as many reads on the other, and a system call is
// expensive where the lane matters most (a virtual machine; docs/bench.md, "viewer cp on the
// LAN"). So the lane's TLS runs over a batchConn: the records of one Write are gathered and
// handed to the kernel together, and reads take whatever the socket holds, up to readBuffer.

const (
	// readBuffer is how much one read from the socket may take.
	readBuffer = 256 << 10
	// writeBatch is the most a Write gathers before it writes to the socket.
	writeBatch = 512 << 10
)

// batchConn is the TCP connection under the lane's TLS.
type batchConn struct {
	net.Conn
	r *bufio.Reader

	writing atomic.Bool // a write to the socket is under way (it may block on a stalled peer)

	mu      sync.Mutex
	holding bool   // inside a laneConn.Write: gather
	buf     []byte // gathered records
	err     error  // the first write error; the connection is unusable after it
}

func newBatchConn(c net.Conn) *batchConn {
	return &batchConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}
}

func (b *batchConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Write gathers while held and writes through otherwise (the handshake, alerts, Close).
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.holding {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		b.writing.Store(true)
		n, err := b.Conn.Write(p)
		b.writing.Store(false)
		if err != nil {
			b.err = err
		}
		return n, err
	}
	if len(b.buf)+len(p) > writeBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *batchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	b.writing.Store(true)
	_, err := b.Conn.Write(b.buf)
	b.writing.Store(false)
	b.buf = b.buf[:0]
	if err != nil {
		b.err = err
	}
	return err
}

// hold starts gathering; release writes what was gathered and stops.
func (b *batchConn) hold() {
	b.mu.Lock()
	b.holding = true
	b.mu.Unlock()
}

func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holding = false
	return b.flushLocked()
}

// laneConn is the lane's TLS connection: each Write leaves in as few system calls as its size
// allows.
type laneConn struct {
	*tls.Conn
	raw     *batchConn
	writeMu sync.Mutex // one Write's records are gathered and flushed together
}

func newLaneConn(tc *tls.Conn, raw *batchConn) *laneConn { return &laneConn{Conn: tc, raw: raw} }

// Close closes the connection. tls.Conn.Close breaks a Write blocked on a stalled peer by
// closing the socket at once; a laneConn's records leave after tls's Write has returned, so a
// write still under way is broken here the same way (otherwise TLS's close_notify would wait
// for it, up to its 5 s deadline).
func (c *laneConn) Close() error {
	if c.raw.writing.Load() {
		_ = c.raw.Conn.Close()
	}
	return c.Conn.Close()
}

func (c *laneConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.raw.hold()
	n, err := c.Conn.Write(p)
	if ferr := c.raw.release(); err == nil && ferr != nil {
		// TLS counted the bytes as sent, but they never left: the connection is broken.
		return 0, ferr
	}
	return n, err
}
