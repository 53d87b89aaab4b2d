package files

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/mux"
)

// env is a host file server and a viewer connected by real yamux sessions over loopback TCP,
// with the tunnel server in between exactly as on a host.
type env struct {
	srv       *Server
	root      string
	open      mux.OpenFunc
	transfers chan Transfer
}

func newEnv(tb testing.TB, cfg Config) *env {
	tb.Helper()
	if t, ok := tb.(*testing.T); ok {
		tb.Cleanup(func() { goleak.VerifyNone(t) })
	}
	if cfg.Root == "" {
		cfg.Root = filepath.Join(tb.TempDir(), "deskport-files")
	}
	e := &env{root: cfg.Root, transfers: make(chan Transfer, 16)}
	cfg.OnTransfer = func(t Transfer) {
		select {
		case e.transfers <- t:
		default:
		}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = srv
	hc, vc := tcpPair(tb)
	ssess, err := mux.NewServerSession(hc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	csess, err := mux.NewClientSession(vc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d := mux.NewDispatcher(ssess, mux.Config{Side: "host"})
	d.Handle(mux.KindFilePut, accept(srv.Handle))
	d.Handle(mux.KindFileGet, accept(srv.Handle))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	e.open = mux.Opener(csess)
	tb.Cleanup(func() {
		cancel()
		csess.Close()
		ssess.Close()
		if err := <-done; err != nil {
			tb.Errorf("mux serve: %v", err)
		}
		srv.Close()
	})
	return e
}

// accept answers the open request the way the host's capability gate does, then hands over.
func accept(h mux.Handler) mux.Handler {
	return func(ctx context.Context, stream net.Conn, req mux.Request) {
		if err := mux.WriteReply(stream, mux.Reply{Status: mux.StatusOK}); err != nil {
			stream.Close()
			return
		}
		h(ctx, stream, req)
	}
}

func tcpPair(tb testing.TB) (a, b net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	b, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	a = <-ch
	if a == nil {
		tb.Fatal("accept failed")
	}
	return a, b
}

// waitTransfer returns the host's report of the next finished operation.
func (e *env) waitTransfer(tb testing.TB) Transfer {
	tb.Helper()
	select {
	case t := <-e.transfers:
		return t
	case <-time.After(30 * time.Second):
		tb.Fatal("the host never reported the transfer")
		return Transfer{}
	}
}

// writeRandom writes size pseudo-random bytes to a new file and returns its SHA-256.
func writeRandom(tb testing.TB, name string, size int64, seed uint64) [32]byte {
	tb.Helper()
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size)); err != nil {
		tb.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func fileSum(tb testing.TB, name string) [32]byte {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// noTemps fails if dir holds an in-progress file.
func noTemps(tb testing.TB, dir string) {
	tb.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, de := range des {
		if isTempName(de.Name()) {
			tb.Errorf("temporary file %s left in %s", de.Name(), dir)
		}
	}
}

type sessions struct{ server, client *yamux.Session }

func newSessions(tb testing.TB, hc, vc net.Conn) (*sessions, error) {
	s, err := mux.NewServerSession(hc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := mux.NewClientSession(vc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return &sessions{s, c}, nil
}
