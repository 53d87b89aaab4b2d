//go:build linux && cgo

package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// notifyHandler tells, once, that a log record with msg was written: the agent's log is how a
// test learns that Shutdown has begun, without sleeping.
type notifyHandler struct {
	slog.Handler
	msg  string
	seen chan struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h notifyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return notifyHandler{h.Handler.WithAttrs(as), h.msg, h.seen}
}

func (h notifyHandler) WithGroup(name string) slog.Handler {
	return notifyHandler{h.Handler.WithGroup(name), h.msg, h.seen}
}

// drainLab is a running agent without a desktop that forwards to target, a viewer key it
// trusts, and the agent's Run result.
type drainLab struct {
	a        *Agent
	rvURL    string
	keyPath  string
	draining chan struct{} // Shutdown logged that it began
	runDone  chan error
}

// newDrainLab starts an agent that allows forwards to target.
func newDrainLab(t *testing.T, ctx context.Context, target string) *drainLab {
	t.Helper()
	rvURL, stopRV := startRendezvous(t)
	t.Cleanup(stopRV)
	dir := t.TempDir()
	l := &drainLab{rvURL: rvURL, keyPath: filepath.Join(dir, "viewer.key"), draining: make(chan struct{}, 1), runDone: make(chan error, 1)}
	vk, _, err := identity.LoadOrCreateKey(l.keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, []byte(identity.AuthorizedLine(vk.Public().(ed25519.PublicKey), "drainer")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(notifyHandler{slog.NewTextHandler(io.Discard, nil), "shutting down: refusing new viewers, draining sessions", l.draining})
	l.a, err = New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), AuthorizedViewersPath: authorized,
		Allow: []string{target}, Desktop: DesktopConfig{Disabled: true},
		Session: session.Config{LoopbackOnly: true}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	go func() { l.runDone <- l.a.Run(ctx) }()
	t.Cleanup(func() { l.a.Close(); <-l.runDone })
	waitOnline(t, rvURL, l.a.ID())
	return l
}

func (l *drainLab) connect(ctx context.Context) (*session.ViewerConn, error) {
	return viewer.Connect(ctx, viewer.Config{Rendezvous: l.rvURL, KeyPath: l.keyPath, HostID: l.a.ID(),
		Session: session.Config{LoopbackOnly: true}})
}

// halfway is a TCP service that writes the first half of blob to each connection, then the
// rest once release is closed.
func halfway(t *testing.T, blob []byte, release <-chan struct{}) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := c.Write(blob[:len(blob)/2]); err != nil {
			return
		}
		<-release
		_, _ = c.Write(blob[len(blob)/2:])
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// TestShutdownDrains: Shutdown refuses a new viewer with "host is shutting down", refuses a new
// forward on a connected session, lets the forward already open finish its transfer (every
// byte arrives), then closes the session and returns nil; Run returns.
func TestShutdownDrains(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // last: after the agent and rendezvous stop
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	blob := bytes.Repeat([]byte("drain me "), 1<<17) // 1.1 MiB
	release := make(chan struct{})
	target := halfway(t, blob, release)
	l := newDrainLab(t, ctx, target.Addr().String())

	conn, err := l.connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	fc := forward.NewClient(conn.Mux, nil)
	stream, err := fc.Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	got := make([]byte, len(blob)/2)
	if _, err := io.ReadFull(stream, got); err != nil {
		t.Fatalf("first half: %v", err)
	}

	shut := make(chan error, 1)
	go func() { shut <- l.a.Shutdown(ctx) }()
	select {
	case <-l.draining:
	case <-ctx.Done():
		t.Fatal("Shutdown never began")
	}

	if c, err := l.connect(ctx); err == nil {
		c.Close()
		t.Error("a new viewer connected while the host drained")
	} else if !strings.Contains(err.Error(), GoingAway) {
		t.Errorf("a new viewer was refused with %q; want it to say %q", err, GoingAway)
	}
	if s, err := fc.Dial(ctx, target.Addr().String()); err == nil {
		s.Close()
		t.Error("a new forward went through while the host drained")
	} else if !errors.Is(err, forward.ErrTargetRefused) || !strings.Contains(err.Error(), GoingAway) {
		t.Errorf("a new forward was refused with %v; want ErrTargetRefused saying %q", err, GoingAway)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a forward was still open", err)
	default:
	}

	close(release)
	rest, err := io.ReadAll(stream)
	if err != nil {
		t.Fatalf("the transfer was cut: %v after %d more bytes", err, len(rest))
	}
	got = append(got, rest...)
	stream.Close() // the viewer's side of the forward ends too, as a -L client hanging up does
	if sha256.Sum256(got) != sha256.Sum256(blob) {
		t.Fatalf("the drained transfer: %d bytes, want %d, or different content", len(got), len(blob))
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v, want nil once every session finished", err)
	}
	if err := <-l.runDone; err != nil {
		t.Errorf("Run after Shutdown: %v", err)
	}
	l.runDone <- nil // for the cleanup
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Error("the drained session was not closed")
	}
}

// TestShutdownDeadline: a forward that outlives Shutdown's context is cut when it expires;
// Shutdown returns the context's error and Run returns.
func TestShutdownDeadline(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // last: after the agent and rendezvous stop
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	blob := bytes.Repeat([]byte("never done "), 1<<14)
	release := make(chan struct{})
	defer close(release)
	target := halfway(t, blob, release)
	l := newDrainLab(t, ctx, target.Addr().String())

	conn, err := l.connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	stream, err := forward.NewClient(conn.Mux, nil).Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := io.ReadFull(stream, make([]byte, len(blob)/2)); err != nil {
		t.Fatalf("first half: %v", err)
	}

	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if err := l.a.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the context's deadline", err)
	}
	n, err := io.Copy(io.Discard, stream)
	if err == nil && n == int64(len(blob)-len(blob)/2) {
		t.Error("the transfer completed although Shutdown's deadline cut it")
	}
	select {
	case err := <-l.runDone:
		if err != nil {
			t.Errorf("Run after Shutdown: %v", err)
		}
		l.runDone <- nil
	case <-ctx.Done():
		t.Fatal("Run did not return after Shutdown's deadline")
	}
}

// TestInteractiveChannelKnowsNoForwards: the interactive channel's dispatcher has no forward
// kinds, so a forward opened there is refused as unsupported even to a viewer allowed to
// forward to that very target, which the tunnel channel carries.
func TestInteractiveChannelKnowsNoForwards(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	target := halfway(t, []byte("ok"), release)
	l := newDrainLab(t, ctx, target.Addr().String())
	conn, err := l.connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	if s, _, err := mux.Open(ctx, conn.Interactive, mux.Request{Kind: mux.KindTCP, Addr: target.Addr().String()}); err == nil {
		s.Close()
		t.Fatal("a forward opened on the interactive channel")
	} else if !errors.Is(err, mux.ErrUnsupported) || !strings.Contains(err.Error(), "the host does not accept tcp streams") {
		t.Fatalf("forward on the interactive channel: %v, want ErrUnsupported", err)
	}
	s, err := forward.NewClient(conn.Mux, nil).Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatalf("the same forward on the tunnel channel: %v", err)
	}
	s.Close()
}
