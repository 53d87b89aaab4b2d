package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/mux"
)

// procConn is a net.Conn over a child process's stdout (read) and stdin (write), standing in
// for the data channel the host runs yamux on.
type procConn struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (c procConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c procConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c procConn) Close() error                { return errors.Join(c.w.Close(), c.r.Close()) }
func (procConn) LocalAddr() net.Addr           { return pipeAddr{} }
func (procConn) RemoteAddr() net.Addr          { return pipeAddr{} }
func (procConn) SetDeadline(time.Time) error   { return nil }
func (procConn) SetReadDeadline(time.Time) error {
	return nil
}
func (procConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "node" }

// lockedBuffer collects yamux's log lines so the test can fail on an error it logged (a window
// overrun, a bad frame) even when the session survives it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sourceBytes is what the host sends on source.test:1.
func sourceBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

// TestYamuxInterop runs web/test/yamux-node.mjs (src/yamux.js and src/mux.js) as the yamux
// client against the host's yamux server: several streams echoing 8 MiB both ways at once,
// half-close in both directions, a reset, pings both ways, the open request and its replies, a
// stream the host opens, and the client's go-away at the end.
func TestYamuxInterop(t *testing.T) {
	node := needNode(t)
	defer goleak.VerifyNone(t)
	const size = 8 << 20

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "yamux-node.mjs"), strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	sess, err := mux.NewServerSession(procConn{r: stdout, w: stdin}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	resetSeen := make(chan error, 1)
	serve := func(st *yamux.Stream) {
		defer wg.Done()
		defer st.Close()
		req, err := mux.ReadRequest(st)
		if err != nil {
			t.Errorf("read request: %v", err)
			return
		}
		ok := func() {
			if err := mux.WriteReply(st, mux.Reply{Status: mux.StatusOK}); err != nil {
				t.Errorf("reply: %v", err)
			}
		}
		switch {
		case req.Kind == mux.KindTCP && req.Addr == "echo.test:1":
			ok()
			if n, err := io.Copy(st, st); err != nil || n != size {
				t.Errorf("echo: %d bytes, %v", n, err)
			}
		case req.Kind == mux.KindTCP && req.Addr == "sink.test:1":
			ok()
			h := sha256.New()
			if n, err := io.Copy(h, st); err != nil || n != size {
				t.Errorf("sink: %d bytes, %v", n, err)
			}
			io.WriteString(st, hex.EncodeToString(h.Sum(nil)))
		case req.Kind == mux.KindTCP && req.Addr == "source.test:1":
			ok()
			b := sourceBytes(size)
			if _, err := st.Write(b); err != nil {
				t.Errorf("source write: %v", err)
			}
			st.Close() // half-close: the viewer answers after our FIN
			answer, err := io.ReadAll(st)
			sum := sha256.Sum256(b)
			if err != nil || string(answer) != hex.EncodeToString(sum[:]) {
				t.Errorf("source: viewer hashed %q (%v), want %x", answer, err, sum)
			}
		case req.Kind == mux.KindTCP && req.Addr == "refuse.test:1":
			mux.WriteReply(st, mux.Reply{Status: mux.StatusNotAllowed, Message: "not in the allowlist"})
		case req.Kind == mux.KindTCP && req.Addr == "hold.test:1":
			ok()
			_, err := io.Copy(io.Discard, st)
			resetSeen <- err
		default:
			mux.WriteReply(st, mux.Reply{Status: mux.StatusUnsupported, Message: req.Kind.String() + " is not served here"})
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go serve(st)
		}
	}()

	// The host pings the viewer and opens a stream to it.
	if _, err := sess.Ping(); err != nil {
		t.Errorf("host ping: %v", err)
	}
	func() {
		st, err := sess.OpenStream()
		if err != nil {
			t.Errorf("host open: %v", err)
			return
		}
		defer st.Close()
		if err := mux.WriteRequest(st, mux.Request{Kind: mux.KindClipboard, Payload: []byte("hello")}); err != nil {
			t.Error(err)
			return
		}
		if r, err := mux.ReadReply(st); err != nil || r.Status != mux.StatusOK {
			t.Errorf("reply from the viewer: %+v, %v", r, err)
			return
		}
		msg := sourceBytes(1 << 20)
		go func() {
			st.Write(msg)
			st.Close()
		}()
		back, err := io.ReadAll(st)
		if err != nil || !bytes.Equal(back, msg) {
			t.Errorf("viewer echoed %d bytes (%v), want the %d sent", len(back), err, len(msg))
		}
	}()

	select {
	case err := <-resetSeen:
		if !errors.Is(err, yamux.ErrConnectionReset) {
			t.Errorf("host read after the viewer's reset: %v, want ErrConnectionReset", err)
		}
	case <-ctx.Done():
		t.Error("the viewer's reset never arrived")
	}
	// The viewer sends go-away and ends its output, which ends the session; only then may the
	// pipes be closed by Wait.
	select {
	case <-sess.CloseChan():
	case <-ctx.Done():
		t.Error("the session did not end")
	}
	sess.Close()
	werr := cmd.Wait()
	wg.Wait()
	if werr != nil {
		t.Errorf("yamux-node.mjs: %v", werr)
	}
	if l := logs.String(); bytes.Contains([]byte(l), []byte("level=ERROR")) {
		t.Errorf("yamux logged errors:\n%s", l)
	}
}
