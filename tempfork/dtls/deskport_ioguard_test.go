// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/dtls/pkg/crypto/selfsign"
	"github.com/pion/transport/v5/test"
)

// gatedConn is a net.PacketConn whose writes block while its gate is shut, until the gate
// opens or the write deadline passes, as a full socket buffer would.
type gatedConn struct {
	net.PacketConn

	mu       sync.Mutex
	shut     bool
	deadline time.Time
	changed  chan struct{} // closed and replaced whenever shut or deadline change
	entered  chan struct{} // gets a value when a write starts waiting at the shut gate
}

func newGatedConn(pc net.PacketConn) *gatedConn {
	return &gatedConn{PacketConn: pc, changed: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (g *gatedConn) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gatedConn) setShut(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.notifyLocked()
	g.mu.Unlock()
}

func (g *gatedConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	g.deadline = t
	g.notifyLocked()
	g.mu.Unlock()

	return g.PacketConn.SetWriteDeadline(t)
}

func (g *gatedConn) SetDeadline(t time.Time) error {
	if err := g.SetWriteDeadline(t); err != nil {
		return err
	}

	return g.PacketConn.SetReadDeadline(t)
}

func (g *gatedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	waited := false
	for {
		g.mu.Lock()
		shut, deadline, changed := g.shut, g.deadline, g.changed
		g.mu.Unlock()
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return 0, &net.OpError{Op: "write", Net: "udp", Err: errGatedTimeout}
		}
		if !shut {
			return g.PacketConn.WriteTo(p, addr)
		}
		if !waited {
			waited = true
			select {
			case g.entered <- struct{}{}:
			default:
			}
		}
		var expired <-chan time.Time
		if !deadline.IsZero() {
			timer := time.NewTimer(time.Until(deadline))
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case <-changed:
		case <-expired:
		}
	}
}

var errGatedTimeout = timeoutErr{}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// deskportPair returns a client and a server Conn, handshaken over loopback UDP through the
// given wrappers of their sockets.
func deskportPair(tb testing.TB, wrapClient, wrapServer func(net.PacketConn) net.PacketConn) (*Conn, *Conn) {
	tb.Helper()
	listen := func() net.PacketConn {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}

		return pc
	}
	cpc, spc := listen(), listen()
	caddr, saddr := cpc.LocalAddr(), spc.LocalAddr()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true,
		CipherSuites:       []CipherSuiteID{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
	client, err := Client(wrapClient(cpc), saddr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	server, err := Server(wrapServer(spc), caddr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}

	return client, server
}

func noWrap(pc net.PacketConn) net.PacketConn { return pc }

func readWant(t *testing.T, c *Conn, want []byte) {
	t.Helper()
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("read %q, want %q", buf[:n], want)
	}
}

// The write deadline interrupts a Write blocked in the underlying connection, and a later
// deadline lets Writes through again.
func TestWriteDeadlineInterruptsBlockedWrite(t *testing.T) {
	defer test.CheckRoutines(t)()

	var gate *gatedConn
	client, server := deskportPair(t, func(pc net.PacketConn) net.PacketConn {
		gate = newGatedConn(pc)

		return gate
	}, noWrap)

	gate.setShut(true)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Write([]byte("blocked"))
		errc <- err
	}()
	<-gate.entered
	if err := client.SetWriteDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blocked Write after the deadline: %v, want a timeout", err)
	}

	// Past the deadline Write fails at once; a new deadline lets it through.
	if _, err := client.Write([]byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write past the deadline: %v, want a timeout", err)
	}
	gate.setShut(false)
	if err := client.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatalf("Write after a new deadline: %v", err)
	}
	readWant(t, server, []byte("hello"))
	if err := client.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("again")); err != nil {
		t.Fatalf("Write without a deadline: %v", err)
	}
	readWant(t, server, []byte("again"))

	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close interrupts a Write blocked in the underlying connection.
func TestCloseInterruptsBlockedWrite(t *testing.T) {
	defer test.CheckRoutines(t)()

	var gate *gatedConn
	client, server := deskportPair(t, func(pc net.PacketConn) net.PacketConn {
		gate = newGatedConn(pc)

		return gate
	}, noWrap)

	gate.setShut(true)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Write([]byte("blocked"))
		errc <- err
	}()
	<-gate.entered
	closed := make(chan error, 1)
	go func() { closed <- client.Close() }()
	if err := <-errc; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("blocked Write after Close: %v, want ErrConnClosed", err)
	}
	// Close sends close_notify, which needs the gate open: the interrupt of the blocked Write
	// must not leave the socket's deadline in the past.
	gate.setShut(false)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("after")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Write after Close: %v, want ErrConnClosed", err)
	}
	// The peer sees the close_notify.
	buf := make([]byte, 64)
	for {
		if _, err := server.Read(buf); err != nil {
			break
		}
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}
