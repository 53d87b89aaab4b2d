package lane

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
)

// countingConn counts the writes that reach it.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestLaneWriteIsOneSystemCall: a 256 KiB Write on the lane (one yamux frame of a file copy)
// reaches the TCP connection as one write, not one per 16 KiB TLS record, and the bytes arrive
// intact both ways.
func TestLaneWriteIsOneSystemCall(t *testing.T) {
	vid, hid := pair(t)
	a, b := net.Pipe()
	counted := &countingConn{Conn: a}
	raw := newBatchConn(counted)
	lc := newLaneConn(tls.Server(raw, vid.tlsConfig(func() (Hash, bool) { return hid.Hash, true })), raw)
	defer lc.Close()
	peer := tls.Client(b, hid.tlsConfig(func() (Hash, bool) { return vid.Hash, true }))
	defer peer.Close()
	errs := make(chan error, 1)
	go func() { errs <- peer.Handshake() }()
	if err := lc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	msg := make([]byte, 256<<10)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(msg))
		_, err := io.ReadFull(peer, b)
		errs <- err
		got <- b
	}()
	before := counted.writes.Load()
	if n, err := lc.Write(msg); err != nil || n != len(msg) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, msg) {
		t.Fatal("the peer read other bytes")
	}
	if w := counted.writes.Load() - before; w != 1 {
		t.Errorf("a %d KiB Write took %d writes on the connection, want 1", len(msg)>>10, w)
	}

	// The other way, through the buffered reader.
	go func() {
		_, err := peer.Write(msg)
		errs <- err
	}()
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(lc, back); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, msg) {
		t.Fatal("read other bytes than the peer wrote")
	}
}

// TestLaneCloseBreaksAStalledWrite: a Write whose gathered records are blocked on a peer that
// stopped reading ends with an error when the lane is closed, as a tls.Conn's does, and Close
// does not wait for it (without laneConn.Close the pair ended only at TLS's 5 s close_notify
// deadline).
func TestLaneCloseBreaksAStalledWrite(t *testing.T) {
	vid, hid := pair(t)
	a, b := net.Pipe()
	raw := newBatchConn(a)
	lc := newLaneConn(tls.Server(raw, vid.tlsConfig(func() (Hash, bool) { return hid.Hash, true })), raw)
	peer := tls.Client(b, hid.tlsConfig(func() (Hash, bool) { return vid.Hash, true }))
	defer peer.Close()
	errs := make(chan error, 1)
	go func() { errs <- peer.Handshake() }()
	if err := lc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// The peer reads nothing more: the Write's single socket write blocks (net.Pipe has no
	// buffer).
	go func() {
		_, err := lc.Write(make([]byte, 256<<10))
		errs <- err
	}()
	for !raw.writing.Load() {
		runtime.Gosched()
	}
	lc.Close()
	if err := <-errs; err == nil {
		t.Fatal("a Write blocked on a stalled peer succeeded after Close")
	}
}
