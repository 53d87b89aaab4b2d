package rendezvous

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsPair returns a wsConn on the server end of a real loopback WebSocket and the client end.
// The wsConn's owner (the reader) is the test; it is shut down at cleanup.
func wsPair(t *testing.T, queue int, ping, pong time.Duration) (*wsConn, *websocket.Conn) {
	t.Helper()
	return wsPairHeard(t, queue, ping, pong, nil)
}

// wsPairHeard is wsPair whose server end records the client's pings in heard, as the
// rendezvous does (nil: it does not).
func wsPairHeard(t *testing.T, queue int, ping, pong time.Duration, heard *atomic.Int64) (*wsConn, *websocket.Conn) {
	t.Helper()
	var opts *websocket.AcceptOptions
	if heard != nil {
		opts = &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			heard.Store(time.Now().UnixNano())
			return true
		}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *websocket.Conn, 1)
	held := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		got <- ws
		<-held
	})}
	go srv.Serve(ln)
	ctx := ctx10(t)
	client, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := <-got
	c := newWSConn(ws, slog.New(slog.DiscardHandler), queue, 5*time.Second, ping, pong)
	if heard != nil {
		c.trustPeerPings(heard)
	}
	readerDone := make(chan struct{})
	go func() { // the owner's reader: it answers pongs
		defer close(readerDone)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		client.CloseNow()
		c.shutdown()
		<-readerDone
		close(held)
		srv.Close()
	})
	return c, client
}

func (c *wsConn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.writing && c.queue == nil
}

// TestWSConnOrderAndIdle sends messages in order, and when the queue has drained the
// connection holds no writer and no queue.
func TestWSConnOrderAndIdle(t *testing.T) {
	leakCheck(t)
	c, client := wsPair(t, 8, time.Hour, time.Hour)
	ctx := ctx10(t)
	for round := range 3 {
		for i := range 8 {
			if !c.enqueue([]byte(strconv.Itoa(round*8 + i))) {
				t.Fatalf("enqueue %d refused", i)
			}
		}
		for i := range 8 {
			_, b, err := client.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := strconv.Itoa(round*8 + i); string(b) != want {
				t.Fatalf("got %q, want %q", b, want)
			}
		}
		for !c.idle() { // the writer ends just after its last write
			select {
			case <-ctx.Done():
				t.Fatal("the writer did not end with an empty queue")
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// TestWSConnOverflowAndWait: a peer that does not read fills the queue; enqueueWait waits for
// room, and enqueue drops the connection.
func TestWSConnOverflowAndWait(t *testing.T) {
	leakCheck(t)
	c, _ := wsPair(t, 4, time.Hour, time.Hour)
	big := make([]byte, 60<<10)
	ctx := ctx10(t)
	// The client never reads: once the socket buffers are full the writer blocks and the queue
	// fills. Bounded: 64 MiB of messages is far beyond any loopback buffer.
	waited := false
	for i := 0; i < 1100 && !waited; i++ {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := c.enqueueWait(wctx, big)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			waited = true
		case err != nil:
			t.Fatal(err)
		}
	}
	if !waited {
		t.Fatal("enqueueWait never waited for room")
	}
	if c.enqueue(big) {
		t.Fatal("enqueue on a full queue succeeded")
	}
	if !c.isClosing() {
		t.Fatal("a full queue did not close the connection")
	}
	if err := c.enqueueWait(ctx, big); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("enqueueWait after the close: %v", err)
	}
}

// TestWSConnPingsAgain: after each pong the next ping is armed, and a peer that stops
// answering is dropped.
func TestWSConnPingsAgain(t *testing.T) {
	leakCheck(t)
	c, client := wsPair(t, 8, time.Millisecond, 2*time.Second)
	ctx := ctx10(t)
	rctx, stopReading := context.WithCancel(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		client.Read(rctx) // answers pings while it waits
	}()
	for {
		c.mu.Lock()
		n := c.pongs
		c.mu.Unlock()
		if n >= 5 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d pongs, want 5: the pinger does not ping again", n)
		case <-time.After(time.Millisecond):
		}
	}
	if c.isClosing() {
		t.Fatal("closed although the peer answers pings")
	}
	stopReading() // coder/websocket closes the connection when a read's context ends
	<-read
	select {
	case <-c.closing:
	case <-ctx.Done():
		t.Fatal("a peer that stopped answering pings was not dropped")
	}
}

// TestWSConnTrustsPeerPings: while the peer pings on its own (as every host agent does), the
// server sends no pings of its own; once the peer falls silent, the server pings again.
func TestWSConnTrustsPeerPings(t *testing.T) {
	leakCheck(t)
	heard := new(atomic.Int64)
	const interval = 50 * time.Millisecond
	c, client := wsPairHeard(t, 8, interval, 2*time.Second, heard)
	ctx := ctx10(t)
	rctx, stopReading := context.WithCancel(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		client.Read(rctx) // answers the server's pings, reads our pongs
	}()
	pongs := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pongs
	}
	// The peer pings every 10 ms for 16 of the server's intervals. On a loaded machine a ping's
	// round trip or the sleep can stretch a gap between two of the peer's pings beyond
	// heardFor, and then the server rightly pings: the server may ping only in such gaps (the
	// server heard ping i between its send and the pong's return, so a gap is at most from
	// one ping's send to the next one's return), as many times as intervals fit in them.
	allowed := 0
	var prevSent time.Time
	for i := 0; i < 80; i++ {
		sent := time.Now()
		if err := client.Ping(ctx); err != nil {
			t.Fatalf("client ping %d: %v", i, err)
		}
		if !prevSent.IsZero() {
			if gap := time.Since(prevSent); gap >= c.heardFor() {
				allowed += int(gap/interval) + 1
			}
		}
		prevSent = sent
		time.Sleep(10 * time.Millisecond) // the peer's own ping interval
	}
	if n := pongs(); n > 1+allowed {
		t.Fatalf("the server pinged %d times although the peer pinged every 10 ms (gaps allowed %d)", n, allowed)
	}
	if allowed > 0 {
		t.Logf("the machine is loaded: gaps between the peer's pings allowed %d server pings", allowed)
	}
	// Silent peer: the server's pings resume.
	deadline := time.Now().Add(5 * time.Second)
	for pongs() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pongs 5 s after the peer fell silent, want 3: the server stopped pinging", pongs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopReading()
	<-read
}
