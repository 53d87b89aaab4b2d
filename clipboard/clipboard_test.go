package clipboard

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen/xvfb"
)

// env is an Xvfb, a clipboard server on it and a viewer client, connected by real yamux
// sessions over loopback TCP through the tunnel server.
type env struct {
	display string
	client  *Client
}

func newEnv(t *testing.T, srv *Server) *env {
	t.Helper()
	testenv.LookPath(t, "xclip") // the host side of the clipboard
	ctx := context.Background()
	x, err := xvfb.Start(ctx, xvfb.Config{Args: []string{"-noreset"}})
	if errors.Is(err, xvfb.ErrNotInstalled) {
		testenv.Missing(t, "Xvfb is not installed; clipboard tests need a real X server")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	// Runs after the streams close and before Xvfb stops, so Xvfb's own goroutines are expected.
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreAnyFunction("github.com/deskport/deskport/screen/xvfb.(*Server).copyLog"),
			goleak.IgnoreAnyFunction("github.com/deskport/deskport/screen/xvfb.Start.func1"))
	})
	srv.Display = x.Display()
	if srv.PollInterval == 0 {
		srv.PollInterval = 50 * time.Millisecond
	}
	return &env{display: x.Display(), client: dialServer(t, srv)}
}

// dialServer serves srv on one end of a tunnel session over loopback TCP and dials a Client
// on the other.
func dialServer(t *testing.T, srv *Server) *Client {
	t.Helper()
	ctx := context.Background()
	hc, vc := tcpPair(t)
	ssess, err := mux.NewServerSession(hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	csess, err := mux.NewClientSession(vc, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mux.NewDispatcher(ssess, mux.Config{Side: "host"})
	d.Handle(mux.KindClipboard, srv.HandleStream)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Serve(sctx) }()
	c, err := Dial(ctx, mux.Opener(csess))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		csess.Close()
		ssess.Close()
		<-done
	})
	return c
}

func tcpPair(t *testing.T) (a, b net.Conn) {
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
	b, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if a = <-ch; a == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

// hostGet reads a selection on the host with xclip, as a host application would see it.
func (e *env) hostGet(t *testing.T, sel string) string {
	t.Helper()
	cmd := exec.Command("xclip", "-o", "-selection", sel)
	cmd.Env = append(os.Environ(), "DISPLAY="+e.display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xclip -o -selection %s: %v", sel, err)
	}
	return string(out)
}

// hostSet copies text on the host the way an application would.
func (e *env) hostSet(t *testing.T, text string) {
	t.Helper()
	cmd := exec.Command("xclip", "-i", "-selection", "clipboard")
	cmd.Env = append(os.Environ(), "DISPLAY="+e.display)
	cmd.Stdin = strings.NewReader(text)
	// No output capture: xclip's forked child would hold the pipe open.
	if err := cmd.Run(); err != nil {
		t.Fatalf("xclip -i: %v", err)
	}
	// xclip's forked child takes the selection a moment after the parent exits; wait for it
	// so that two copies in a row cannot land in the wrong order.
	for deadline := time.Now().Add(5 * time.Second); ; {
		cmd := exec.Command("xclip", "-o", "-selection", "clipboard")
		cmd.Env = append(os.Environ(), "DISPLAY="+e.display)
		if out, err := cmd.Output(); err == nil && string(out) == text {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the host clipboard never showed the copied text")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) nextUpdate(t *testing.T) string {
	t.Helper()
	select {
	case s, ok := <-e.client.Updates():
		if !ok {
			t.Fatalf("updates closed: %v", e.client.Err())
		}
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no clipboard update from the host")
		return ""
	}
}

func TestViewerSetsHostClipboard(t *testing.T) {
	e := newEnv(t, &Server{Primary: true})
	ctx := context.Background()
	text := "héllo wörld 🎉\nsecond line\t"
	if err := e.client.Set(ctx, text); err != nil {
		t.Fatal(err)
	}
	// Set returns once the host's clipboard serves the text: no waiting needed.
	if got := e.hostGet(t, "clipboard"); got != text {
		t.Fatalf("host CLIPBOARD is %q, want %q", got, text)
	}
	if got := e.hostGet(t, "primary"); got != text {
		t.Fatalf("host PRIMARY is %q, want %q", got, text)
	}
	// The viewer's own text is not echoed back: the next update is the next host copy.
	e.hostSet(t, "from the host")
	if got := e.nextUpdate(t); got != "from the host" {
		t.Fatalf("first update %q; want the host's copy, not an echo of the viewer's set", got)
	}
}

func TestHostChangeReachesViewer(t *testing.T) {
	e := newEnv(t, &Server{})
	// HandleStream answers the open only after taking the starting point, so the first copy,
	// made right after Dial returns, is already a change.
	for _, text := range []string{"one", "two", strings.Repeat("large text ", 50000)} {
		e.hostSet(t, text)
		if got := e.nextUpdate(t); got != text {
			t.Fatalf("update of %d bytes, want %d", len(got), len(text))
		}
	}
}

func TestOversizeRefused(t *testing.T) {
	e := newEnv(t, &Server{MaxBytes: 1000})
	ctx := context.Background()
	if err := e.client.Set(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	err := e.client.Set(ctx, strings.Repeat("x", 1001))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "1001 bytes refused: the limit is 1000 bytes; nothing was set") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
	if got := e.hostGet(t, "clipboard"); got != "before" {
		t.Fatalf("host clipboard is %q after a refused set", got)
	}
	err = e.client.Set(ctx, "bad \xff utf-8")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	// The stream is still in step.
	if err := e.client.Set(ctx, strings.Repeat("y", 1000)); err != nil {
		t.Fatal(err)
	}
	if got := e.hostGet(t, "clipboard"); got != strings.Repeat("y", 1000) {
		t.Fatal("host clipboard not set after a refusal")
	}
	// A host text over the limit is not sent; the next one within it is.
	e.hostSet(t, strings.Repeat("z", 2000))
	e.hostSet(t, "small")
	if got := e.nextUpdate(t); got != "small" && got != strings.Repeat("z", 2000) {
		t.Fatalf("got %q", got)
	} else if got != "small" {
		t.Fatal("a host text over the limit was sent")
	}
}
