package mux

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/msgpipe"
	"github.com/deskport/deskport/tempfork/yamux"
)

// pairs makes the two ends of a yamux session over each transport the dispatcher runs on: the
// data-channel adapter over an in-memory message pipe, and loopback TCP.
var pairs = []struct {
	name string
	pair func(t *testing.T) (host, viewer net.Conn)
}{
	{"msgpipe", func(t *testing.T) (net.Conn, net.Conn) {
		a, b := msgpipe.New()
		return NewStreamConn(a, AdapterConfig{}), NewStreamConn(b, AdapterConfig{})
	}},
	{"tcp", func(t *testing.T) (net.Conn, net.Conn) {
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

// serve runs a dispatcher for the host end with register's handlers and returns the viewer's
// session; the dispatcher is stopped and its Serve checked at cleanup.
func serve(t *testing.T, pair func(*testing.T) (net.Conn, net.Conn), cfg Config, register func(*Dispatcher)) *yamux.Session {
	t.Helper()
	hc, vc := pair(t)
	hs, err := NewServerSession(hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := NewClientSession(vc, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Side = "host"
	d := NewDispatcher(hs, cfg)
	register(d)
	done := make(chan error, 1)
	go func() { done <- d.Serve(context.Background()) }()
	t.Cleanup(func() {
		vs.Close()
		hs.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after the session closed")
		}
	})
	return vs
}

func echo(ctx context.Context, stream net.Conn, req Request) {
	defer stream.Close()
	if Accept(stream, "echo "+string(req.Payload)) != nil {
		return
	}
	_, _ = io.Copy(stream, stream)
}

// TestDispatch: streams reach the handler of their kind with their payload; a kind nobody
// registered is refused as unsupported, naming the side and the kind.
func TestDispatch(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			vs := serve(t, p.pair, Config{}, func(d *Dispatcher) { d.Handle(KindClipboard, echo) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, rep, err := Open(ctx, vs, Request{Kind: KindClipboard, Payload: []byte("v1")})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Message != "echo v1" {
				t.Errorf("reply %q, want the handler's %q", rep.Message, "echo v1")
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo: %q %v", buf, err)
			}
			c.Close()

			_, err = Opener(vs)(ctx, Request{Kind: KindInput, Payload: []byte{1}})
			var re *RemoteError
			if !errors.Is(err, ErrUnsupported) || !errors.As(err, &re) || re.Message != "the host does not accept input streams" {
				t.Fatalf("unregistered kind: %v, want ErrUnsupported saying the host does not accept input streams", err)
			}
		})
	}
}

// TestDispatchCap: streams beyond MaxStreams are refused with ErrTooManyStreams, and a slot
// freed by a finished stream is taken again.
func TestDispatchCap(t *testing.T) {
	release := make(chan struct{})
	hold := func(ctx context.Context, stream net.Conn, req Request) {
		defer stream.Close()
		if Accept(stream, "") != nil {
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	freed := make(chan struct{}, 8)
	count := func(delta int) {
		if delta < 0 {
			freed <- struct{}{}
		}
	}
	vs := serve(t, pairs[0].pair, Config{MaxStreams: 2, Streams: count}, func(d *Dispatcher) { d.Handle(KindFileGet, hold) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := Opener(vs)
	var held []net.Conn
	for range 2 {
		c, err := open(ctx, Request{Kind: KindFileGet})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	_, err := open(ctx, Request{Kind: KindFileGet})
	if !errors.Is(err, ErrTooManyStreams) || !strings.Contains(err.Error(), "allows 2 concurrent streams") {
		t.Fatalf("third open: %v, want ErrTooManyStreams naming the cap", err)
	}
	close(release)
	for _, c := range held {
		c.Close()
	}
	for range 2 {
		select {
		case <-freed:
		case <-ctx.Done():
			t.Fatal("the finished streams' slots were never freed")
		}
	}
	c, err := open(ctx, Request{Kind: KindFileGet})
	if err != nil {
		t.Fatalf("open after the streams ended: %v", err)
	}
	c.Close()
}

// TestOpenContext: an open whose peer never replies ends with ctx, and the handler, whose
// stream was reset, sees it.
func TestOpenContext(t *testing.T) {
	reset := make(chan error, 1)
	silent := func(ctx context.Context, stream net.Conn, req Request) {
		_, err := stream.Read(make([]byte, 1))
		reset <- err
		stream.Close()
	}
	vs := serve(t, pairs[1].pair, Config{}, func(d *Dispatcher) { d.Handle(KindControl, silent) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := Open(ctx, vs, Request{Kind: KindControl, Payload: []byte{1}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v, want the context's deadline", err)
	}
	select {
	case err := <-reset:
		if err == nil {
			t.Errorf("the handler read data from an aborted open")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never saw the aborted open")
	}
}

// TestHandlePanics: registering outside the registry, nil or twice is a programming error.
func TestHandlePanics(t *testing.T) {
	for name, f := range map[string]func(d *Dispatcher){
		"invalid kind": func(d *Dispatcher) { d.Handle(Kind(0), echo) },
		"unknown kind": func(d *Dispatcher) { d.Handle(maxKind+1, echo) },
		"nil handler":  func(d *Dispatcher) { d.Handle(KindInput, nil) },
		"twice":        func(d *Dispatcher) { d.Handle(KindInput, echo); d.Handle(KindInput, echo) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle did not panic")
				}
			}()
			f(NewDispatcher(nil, Config{}))
		})
	}
}
