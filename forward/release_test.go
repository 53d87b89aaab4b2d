package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"
)

// The tests in this file check that a forwarded connection whose one end is gone for good is
// released at once on both sides (issue 16, item 0): the other end is closed and the stream, its
// goroutines and its window are freed. A proper half-close is covered by TestHalfClose,
// TestForwardLocal, TestRemote and TestSOCKS (they half-close and then read the answer).

// releaseWait bounds how long a release may take. Without a reset it takes StreamCloseTimeout
// (5 minutes), so any bound well below that tells the two apart.
const releaseWait = 10 * time.Second

// flood is a target that is still sending when its client goes: it writes until a write fails.
// It counts its open connections and reports each one's end on ended.
type flood struct {
	open  atomic.Int64
	ended chan struct{}
}

func newFlood() *flood { return &flood{ended: make(chan struct{}, 64)} }

func (f *flood) serve(c net.Conn) {
	f.open.Add(1)
	defer func() { f.open.Add(-1); f.ended <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// waitEnded waits for n connections of f to end.
func (f *flood) waitEnded(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(releaseWait)
	for i := range n {
		select {
		case <-f.ended:
		case <-timeout:
			t.Fatalf("%d of %d target connections still open %v after their clients closed", n-i, n, releaseWait)
		}
	}
	if o := f.open.Load(); o != 0 {
		t.Fatalf("target has %d open connections", o)
	}
}

// readAndClose reads 64 KiB from c and closes it with the rest unread, like a cancelled download:
// the kernel answers the target's next bytes with a RST.
func readAndClose(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatalf("read 64 KiB: %v", err)
	}
	c.Close()
}

// settle waits until neither yamux session holds more than streams streams (a -R forward keeps
// its listener's control stream) and no goroutine is left in a forward's copy loops; it is the
// "every resource freed" half of each test.
func settle(t *testing.T, e *env, streams int) {
	t.Helper()
	deadline := time.Now().Add(releaseWait)
	for {
		h, v, g := e.host.NumStreams(), e.viewer.NumStreams(), forwardGoroutines()
		if h <= streams && v <= streams && g == 0 {
			t.Logf("released: host streams %d, viewer streams %d, forward goroutines %d, all goroutines %d", h, v, g, runtime.NumGoroutine())
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after %v: host streams %d, viewer streams %d, forward goroutines %d\n%s", releaseWait, h, v, g, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forwardGoroutines counts the goroutines that are carrying a forward (pipe, copyHalf, Splice)
// on either side.
func forwardGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "forward.pipe") || strings.Contains(g, "forward.copyHalf") || strings.Contains(g, "forward.Splice") {
			n++
		}
	}
	return n
}

// serveLocal runs ServeLocal (or ServeSOCKS with socks set) on a fresh listener and returns
// its address and a stop function that checks its result.
func serveClient(t *testing.T, run func(ctx context.Context, ln net.Listener) error) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// TestClientGoneReleasesTarget: five clients of a -L, -D or -R forward read 64 KiB each and
// close while the target is still sending; every target connection must close.
func TestClientGoneReleasesTarget(t *testing.T) {
	const clients = 5
	kinds := []struct {
		name string
		// start sets up the forward to target and returns a dial function for its clients.
		start func(t *testing.T, e *env, target string) (dial func() (net.Conn, error), stop func())
		// targetOnViewer: the target sits on the viewer's side (-R) instead of the host's.
		targetOnViewer bool
	}{
		{name: "L", start: func(t *testing.T, e *env, target string) (func() (net.Conn, error), func()) {
			addr, stop := serveClient(t, func(ctx context.Context, ln net.Listener) error { return e.client.ServeLocal(ctx, ln, target) })
			return func() (net.Conn, error) { return net.Dial("tcp", addr) }, stop
		}},
		{name: "D", start: func(t *testing.T, e *env, target string) (func() (net.Conn, error), func()) {
			addr, stop := serveClient(t, e.client.ServeSOCKS)
			d, err := proxy.SOCKS5("tcp", addr, nil, proxy.Direct)
			if err != nil {
				t.Fatal(err)
			}
			return func() (net.Conn, error) { return d.Dial("tcp", target) }, stop
		}},
		{name: "R", targetOnViewer: true, start: func(t *testing.T, e *env, target string) (func() (net.Conn, error), func()) {
			ctx, cancel := context.WithCancel(context.Background())
			bound := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- e.client.Remote(ctx, "127.0.0.1:0", target, func(b string) { bound <- b }) }()
			var addr string
			select {
			case addr = <-bound:
			case err := <-done:
				t.Fatalf("Remote: %v", err)
			}
			return func() (net.Conn, error) { return net.Dial("tcp", addr) }, func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Remote: %v", err)
				}
			}
		}},
	}
	for _, k := range kinds {
		for _, tr := range transports {
			t.Run(k.name+"/"+tr.name, func(t *testing.T) {
				leakCheck(t)
				f := newFlood()
				target := service(t, f.serve)
				lp, _ := NewListenPolicy([]string{"127.0.0.1:0"})
				e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String()), ListenPolicy: lp})
				dial, stop := k.start(t, e, target.String())
				defer stop()
				for range clients {
					c, err := dial()
					if err != nil {
						t.Fatal(err)
					}
					readAndClose(t, c)
				}
				f.waitEnded(t, clients)
				streams := 0
				if k.targetOnViewer {
					streams = 1 // the listener's control stream
				}
				settle(t, e, streams)
			})
		}
	}
}

// TestTargetGoneReleasesClient: the target reads a little and closes while the client is still
// sending; the client's connection must be cut (not left to fill the windows and then hang).
func TestTargetGoneReleasesClient(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, func(c net.Conn) { c.Read(make([]byte, 1024)) })
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			addr, stop := serveClient(t, func(ctx context.Context, ln net.Listener) error { return e.client.ServeLocal(ctx, ln, target.String()) })
			defer stop()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(releaseWait))
			buf := make([]byte, 32<<10)
			var sent int64
			for {
				n, err := c.Write(buf)
				sent += int64(n)
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("the client could still send (%d bytes) %v after the target closed", sent, releaseWait)
					}
					t.Logf("client cut after %d bytes: %v", sent, err)
					break
				}
			}
			c.Close()
			settle(t, e, 0)
		})
	}
}

// TestSpliceOutputGone: stdio's output (ssh reading the ProxyCommand's stdout) goes away while
// the target is still sending: Splice must end with the write error and the target close.
func TestSpliceOutputGone(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			f := newFlood()
			target := service(t, f.serve)
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			stream, err := e.client.Dial(context.Background(), target.String())
			if err != nil {
				t.Fatal(err)
			}
			in := newBlockedReader() // stdin stays open, as ssh's does
			defer in.Close()
			out := &brokenWriter{left: 64 << 10}
			err = Splice(context.Background(), stream, in, out)
			if !errors.Is(err, syscall.EPIPE) {
				t.Errorf("Splice: %v, want the output's EPIPE", err)
			}
			f.waitEnded(t, 1)
			in.Close()
			settle(t, e, 0) // the stdin reader ended with its source
		})
	}
}

// TestSpliceTargetGone: the target closes with unread data while stdin is still sending; Splice
// must end with an error (ssh then sees its ProxyCommand exit) rather than wait for stdin.
func TestSpliceTargetGone(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, func(c net.Conn) { c.Read(make([]byte, 1024)) })
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			stream, err := e.client.Dial(context.Background(), target.String())
			if err != nil {
				t.Fatal(err)
			}
			in := &endless{}
			done := make(chan error, 1)
			go func() { done <- Splice(context.Background(), stream, in, io.Discard) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "reset") {
					t.Errorf("Splice: %v, want a reset", err)
				}
			case <-time.After(releaseWait):
				t.Fatalf("Splice still running %v after the target closed (stdin sent %d bytes)", releaseWait, in.n.Load())
			}
			settle(t, e, 0)
		})
	}
}

// TestSpliceHalfClose: stdin ends, the target sees EOF and its answer still arrives in full.
func TestSpliceHalfClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, hasher)
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			stream, err := e.client.Dial(context.Background(), target.String())
			if err != nil {
				t.Fatal(err)
			}
			msg := "half-closed but still listening"
			var out strings.Builder
			if err := Splice(context.Background(), stream, strings.NewReader(msg), &out); err != nil {
				t.Fatalf("Splice: %v", err)
			}
			if got := out.String(); got != string(sha256Sum([]byte(msg))) {
				t.Fatalf("answer %x, want the SHA-256 of what stdin sent", got)
			}
		})
	}
}

// blockedReader blocks in Read until closed, like an idle stdin.
type blockedReader struct {
	once sync.Once
	c    chan struct{}
}

func newBlockedReader() *blockedReader { return &blockedReader{c: make(chan struct{})} }

func (b *blockedReader) Read([]byte) (int, error) { <-b.c; return 0, io.EOF }
func (b *blockedReader) Close()                   { b.once.Do(func() { close(b.c) }) }

// brokenWriter takes left bytes, then fails like a pipe whose reader exited.
type brokenWriter struct{ left int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
	}
	w.left -= len(p)
	return len(p), nil
}

// endless is a stdin that always has more to send.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) { e.n.Add(int64(len(p))); return len(p), nil }
