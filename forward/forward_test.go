package forward

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
	"go.uber.org/goleak"
	"golang.org/x/net/proxy"

	"github.com/deskport/deskport/internal/msgpipe"
	"github.com/deskport/deskport/mux"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// transport makes the connected pair of byte streams a yamux session runs on.
type transport struct {
	name string
	pair func(t testing.TB) (host, viewer net.Conn)
}

var transports = []transport{
	{"msgpipe", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := msgpipe.New()
		return mux.NewStreamConn(a, mux.AdapterConfig{}), mux.NewStreamConn(b, mux.AdapterConfig{})
	}},
	{"tcp", func(t testing.TB) (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ch := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			ch <- c
		}()
		v, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		h := <-ch
		if h == nil {
			t.Fatal("accept failed")
		}
		return h, v
	}},
}

// env is a host and a viewer joined by a yamux session, with both sides serving.
type env struct {
	client *Client
	host   *yamux.Session
	viewer *yamux.Session
	logs   *syncBuffer
	ctx    context.Context
}

func newEnv(t testing.TB, tr transport, cfg ServerConfig) *env {
	hc, vc := tr.pair(t)
	logs := &syncBuffer{}
	if cfg.Viewer == "" {
		cfg.Viewer = "SHA256:testviewer"
	}
	// As the host's: its logger names the viewer.
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("viewer", cfg.Viewer)
	hs, err := mux.NewServerSession(hc, cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := mux.NewClientSession(vc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{client: NewClient(vs, nil), host: hs, viewer: vs, logs: logs, ctx: ctx}
	srvDone, cliDone := make(chan error, 1), make(chan error, 1)
	go func() { srvDone <- NewServer(cfg).Serve(ctx, hs) }()
	go func() { cliDone <- e.client.Serve(ctx) }()
	t.Cleanup(func() {
		vs.Close()
		hs.Close()
		if err := <-srvDone; err != nil {
			t.Errorf("Server.Serve: %v", err)
		}
		if err := <-cliDone; err != nil {
			t.Errorf("Client.Serve: %v", err)
		}
		cancel()
	})
	return e
}

// service runs a TCP server on loopback for the test; handle owns each conn.
func service(t testing.TB, handle func(net.Conn)) *net.TCPAddr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr)
}

// echo copies back what it reads and half-closes at EOF.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// hasher answers the SHA-256 of everything it read, after the peer half-closes.
func hasher(c net.Conn) {
	h := sha256.New()
	io.Copy(h, c)
	c.Write(h.Sum(nil))
}

func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func policyFor(t testing.TB, rules ...string) *Policy {
	p, err := NewPolicy(rules, fakeResolver{"echo.test": {"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// roundTrip sends n random bytes through c, half-closes, and checks the echo byte for byte.
func roundTrip(t *testing.T, c net.Conn, n int) {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = closeWrite(c)
		}
		errc <- err
	}()
	h := sha256.New()
	got, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if got != int64(n) || !bytes.Equal(h.Sum(nil), sha256Sum(data)) {
		t.Fatalf("echo: %d bytes, digest mismatch=%v", got, !bytes.Equal(h.Sum(nil), sha256Sum(data)))
	}
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestForwardLocal(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, echo)
			events := make(chan ForwardEvent, 1)
			e := newEnv(t, tr, ServerConfig{
				Policy:    policyFor(t, target.String()),
				OnForward: func(ev ForwardEvent) { events <- ev },
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.client.ServeLocal(ctx, ln, target.String()) }()

			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			const size = 8 << 20
			roundTrip(t, c, size)
			c.Close()
			ev := <-events
			if ev.Sent != size || ev.Received != size || ev.Addr.String() != target.String() || ev.Viewer != "SHA256:testviewer" {
				t.Errorf("forward event %+v", ev)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeLocal: %v", err)
			}
		})
	}
}

func TestHalfClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, hasher)
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			c, err := e.client.Dial(context.Background(), target.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := []byte("half-closed but still listening")
			c.Write(msg)
			if err := closeWrite(c); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, sha256Sum(msg)) {
				t.Fatalf("reply %x, %v", got, err)
			}
		})
	}
}

func TestForwardRefused(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, echo)
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String())})
			port := strconv.Itoa(target.Port)
			for _, bad := range []string{"127.0.0.2:" + port, "127.0.0.1:1", "[::1]:" + port} {
				_, err := e.client.Dial(context.Background(), bad)
				if !errors.Is(err, ErrTargetRefused) {
					t.Fatalf("Dial(%s) = %v, want ErrTargetRefused", bad, err)
				}
				if !strings.Contains(err.Error(), "the host allows: "+target.String()) || !strings.Contains(err.Error(), "--allow") {
					t.Errorf("error lacks the hint: %v", err)
				}
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "forward refused") || !strings.Contains(logs, "127.0.0.2:"+port) || strings.Count(logs, "viewer=SHA256:testviewer") != strings.Count(logs, "forward refused") || !strings.Contains(logs, "level=WARN") {
				t.Errorf("refusal not logged as expected:\n%s", logs)
			}
			// Allowed but nothing listening: a dial failure, not a refusal.
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			closed := ln.Addr().String()
			ln.Close()
			e2 := newEnv(t, tr, ServerConfig{Policy: policyFor(t, closed)})
			_, err := e2.client.Dial(context.Background(), closed)
			if !errors.Is(err, ErrDialFailed) || errors.Is(err, ErrTargetRefused) {
				t.Errorf("Dial(closed port) = %v, want ErrDialFailed", err)
			}
			// A nil policy refuses everything.
			e3 := newEnv(t, tr, ServerConfig{})
			if _, err := e3.client.Dial(context.Background(), target.String()); !errors.Is(err, ErrTargetRefused) {
				t.Errorf("nil policy: %v", err)
			}
		})
	}
}

func TestStreamCap(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			const max, opens = 32, 1000
			target := service(t, echo)
			ended := make(chan ForwardEvent, max)
			e := newEnv(t, tr, ServerConfig{
				Policy:     policyFor(t, target.String()),
				MaxStreams: max,
				OnForward:  func(ev ForwardEvent) { ended <- ev },
			})
			var (
				mu       sync.Mutex
				conns    []net.Conn
				refused  int
				otherErr []error
				wg       sync.WaitGroup
			)
			for range opens {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := e.client.Dial(context.Background(), target.String())
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						conns = append(conns, c)
					case errors.Is(err, mux.ErrTooManyStreams):
						refused++
					default:
						otherErr = append(otherErr, err)
					}
				}()
			}
			wg.Wait()
			if len(conns) != max || refused+len(otherErr) != opens-max {
				t.Errorf("served %d (max %d), refused %d, other errors %d: %v", len(conns), max, refused, len(otherErr), otherErr)
			}
			if refused == 0 {
				t.Errorf("no open was refused with mux.ErrTooManyStreams")
			}
			// The served streams work, and once they end the host serves again.
			for _, c := range conns {
				roundTrip(t, c, 100)
				c.Close()
			}
			for range conns {
				<-ended
			}
			c, err := e.client.Dial(context.Background(), target.String())
			if err != nil {
				t.Fatalf("Dial after the flood: %v", err)
			}
			roundTrip(t, c, 1000)
			c.Close()
		})
	}
}

func TestRemote(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			local := service(t, echo) // on the viewer's side
			lp, _ := NewListenPolicy([]string{"127.0.0.1:0"})
			events := make(chan ForwardEvent, 2)
			e := newEnv(t, tr, ServerConfig{ListenPolicy: lp, OnForward: func(ev ForwardEvent) { events <- ev }})
			ctx, cancel := context.WithCancel(context.Background())
			bound := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- e.client.Remote(ctx, "127.0.0.1:0", local.String(), func(b string) { bound <- b }) }()
			var addr string
			select {
			case addr = <-bound:
			case err := <-done:
				t.Fatalf("Remote: %v", err)
			}
			for range 2 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				roundTrip(t, c, 1<<20)
				c.Close()
				if ev := <-events; ev.Kind != mux.KindReverse || ev.Sent != 1<<20 || ev.Addr.String() != addr {
					t.Errorf("event %+v", ev)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Remote after cancel: %v", err)
			}
		})
	}
}

func TestRemoteRefused(t *testing.T) {
	leakCheck(t)
	tr := transports[0]
	lp, _ := NewListenPolicy([]string{"127.0.0.1:0"})
	for _, tc := range []struct {
		cfg  ServerConfig
		bind string
	}{
		{ServerConfig{}, "127.0.0.1:0"},
		{ServerConfig{ListenPolicy: lp}, "0.0.0.0:0"},
		{ServerConfig{ListenPolicy: lp}, "127.0.0.1:8080"},
	} {
		e := newEnv(t, tr, tc.cfg)
		err := e.client.Remote(context.Background(), tc.bind, "127.0.0.1:1", func(string) { t.Error("ready called") })
		if !errors.Is(err, ErrListenRefused) || !strings.Contains(err.Error(), "--allow-listen") {
			t.Errorf("Remote(%s) = %v", tc.bind, err)
		}
	}
}

// A host that opens a reverse stream for a listener the viewer never asked for is refused.
func TestReverseUnknownListener(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, transports[0], ServerConfig{})
	s, err := e.host.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := mux.WriteRequest(s, mux.Request{Kind: mux.KindReverse, ListenID: 999, Addr: "127.0.0.1:4444"}); err != nil {
		t.Fatal(err)
	}
	rep, err := mux.ReadReply(s)
	if err != nil || rep.Status != mux.StatusNotAllowed {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	s2, _ := e.host.OpenStream()
	defer s2.Close()
	mux.WriteRequest(s2, mux.Request{Kind: mux.KindTCP, Addr: "127.0.0.1:22"})
	if rep, err := mux.ReadReply(s2); err != nil || rep.Status != mux.StatusUnsupported {
		t.Fatalf("tcp open toward the viewer: %+v, %v", rep, err)
	}
}

func TestBadOpen(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, transports[0], ServerConfig{Policy: policyFor(t, "127.0.0.1:1")})
	for _, tc := range []struct {
		raw  []byte
		want mux.Status
	}{
		{[]byte{9, 1, 0, 0}, mux.StatusBadRequest},
		{[]byte{1, 77, 0, 0}, mux.StatusUnsupported},
		{[]byte{1, byte(mux.KindInput), 0, 0}, mux.StatusUnsupported},
		{[]byte{1, 1, 0, 4, 'a', 'b', 'c', 'd'}, mux.StatusBadRequest},
	} {
		s, err := e.viewer.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		s.Write(tc.raw)
		rep, err := mux.ReadReply(s)
		s.Close()
		if err != nil || rep.Status != tc.want {
			t.Errorf("% x: reply %+v, %v; want status %d", tc.raw, rep, err, tc.want)
		}
	}
}

func TestSOCKS(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			target := service(t, echo)
			port := strconv.Itoa(target.Port)
			e := newEnv(t, tr, ServerConfig{Policy: policyFor(t, target.String(), "[::1]:"+port)})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.client.ServeSOCKS(ctx, ln) }()
			d, err := proxy.SOCKS5("tcp", ln.Addr().String(), nil, proxy.Direct)
			if err != nil {
				t.Fatal(err)
			}
			for _, dst := range []string{target.String(), "echo.test:" + port} {
				c, err := d.Dial("tcp", dst)
				if err != nil {
					t.Fatalf("SOCKS dial %s: %v", dst, err)
				}
				roundTrip(t, c, 256<<10)
				c.Close()
			}
			_, err = d.Dial("tcp", "127.0.0.2:"+port)
			if err == nil || !strings.Contains(err.Error(), "not allowed by ruleset") {
				t.Errorf("refused SOCKS dial: %v", err)
			}
			// Raw protocol: BIND is not supported; an unknown address type is refused.
			for _, tc := range []struct {
				req  []byte
				code byte
			}{
				{[]byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80}, socksCommandNotSupported},
				{[]byte{5, 1, 0, 9}, socksAtypNotSupported},
			} {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.Write([]byte{5, 1, 0})
				c.Write(tc.req)
				resp, _ := io.ReadAll(c)
				c.Close()
				if len(resp) < 4 || resp[3] != tc.code {
					t.Errorf("request % x: response % x, want code %d", tc.req, resp, tc.code)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeSOCKS: %v", err)
			}
		})
	}
}

// Ending the server's context cuts forwards in progress, and Serve returns only when every
// goroutine it started is gone.
func TestServeStopsForwards(t *testing.T) {
	leakCheck(t)
	target := service(t, echo)
	hc, vc := transports[0].pair(t)
	hs, _ := mux.NewServerSession(hc, nil)
	vs, _ := mux.NewClientSession(vc, nil)
	defer vs.Close()
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(ServerConfig{Policy: policyFor(t, target.String())}).Serve(ctx, hs) }()
	c, err := NewClient(vs, nil).Dial(context.Background(), target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTripNoClose(t, c)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The forward must be cut, not left open: the read ends with EOF or a reset well before the
	// deadline (which only turns a hang into a failure).
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, yamux.ErrConnectionReset) && !errors.Is(err, yamux.ErrStreamClosed) {
		t.Fatalf("read after stop: %v; want EOF or a reset (the forward was not cut)", err)
	}
	if len(rest) != 0 {
		t.Fatalf("read %q after stop, want nothing", rest)
	}
	if _, err := c.Write([]byte("after")); err == nil {
		// A write may still be buffered by yamux; the peer side is gone, so the echo never comes.
		if n, err := c.Read(make([]byte, 8)); err == nil {
			t.Fatalf("forward still echoes after Serve returned (%d bytes)", n)
		}
	}
}

func roundTripNoClose(t *testing.T, c net.Conn) {
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}
