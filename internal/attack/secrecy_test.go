package attack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/session"
)

// capture is everything the rendezvous saw: its debug log and every WebSocket message body.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// teeProxyAddr accepts WebSockets and relays every message to the same path on upstream, recording
// each body: the rendezvous operator's view of the signaling traffic.
func teeProxyAddr(t testing.TB, addr, upstream string, rec *capture) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		down, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer down.CloseNow()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		up, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(upstream, "http")+r.URL.Path, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer up.CloseNow()
		up.SetReadLimit(1 << 20)
		down.SetReadLimit(1 << 20)
		pump := func(dst, src *websocket.Conn, dir string) {
			defer cancel()
			for {
				typ, b, err := src.Read(ctx)
				if err != nil {
					return
				}
				rec.Write([]byte(dir + " " + string(b) + "\n"))
				if dst.Write(ctx, typ, b) != nil {
					return
				}
			}
		}
		go pump(up, down, "C→S")
		pump(down, up, "S→C")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// codeHost runs a real HostClient whose sessions are answered by session.Accept with a code
// store; results arrive on the returned channel. A session that succeeded stays open until the
// test has the viewer's outcome too and sends on release: closing it at once aborts the SCTP
// association, and pion then fails the viewer's read of a result that had already arrived (a
// 1-in-30 flake of the genuine-code check), which a real host, serving the session, never does.
func codeHost(t testing.TB, url string, key keyPair, codes *auth.CodeStore, skew *atomic.Int64, release <-chan struct{}) <-chan error {
	t.Helper()
	results := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h := &rendezvous.HostClient{URL: url, Key: key.priv, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	go func() {
		defer close(done)
		h.Run(ctx, func(s *rendezvous.Session) {
			defer s.Close()
			hc := auth.HostConfig{Key: key.priv, Codes: codes, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}
			conn, err := session.Accept(ctx, s, key.id, session.Config{LoopbackOnly: true, HandshakeTimeout: 15 * time.Second}, hc)
			results <- err
			if conn != nil {
				select {
				case <-release:
				case <-ctx.Done():
				}
				conn.Close()
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return results
}

// TestCodeSecrecy runs real code sessions through a real rendezvous (HostClient, Dial,
// session.Accept/Dial) behind a proxy that records every WebSocket message, with the
// rendezvous logging at Debug into the same capture, and checks that the code, in any form,
// never appears. Then expired, reused and wrong codes are refused through the same path.
func TestCodeSecrecy(t *testing.T) {
	rec := &capture{}
	logger := slog.New(slog.NewJSONHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The proxy's address must be known before the server (the registration proof names it).
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyHost := pln.Addr().String()
	pln.Close()
	_, url := startRendezvous(t, rendezvous.Config{Logger: logger, PublicHosts: []string{proxyHost}}, nil)
	proxy := teeProxyAddr(t, proxyHost, url, rec)

	hostKey, viewerKey := newKey(t), newKey(t)
	codes := auth.NewCodeStore(0, nil)
	var skew atomic.Int64
	release := make(chan struct{}, 16)
	hostResults := codeHost(t, proxy, hostKey, codes, &skew, release)

	connect := func(typed string) (viewerErr, hostErr error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var vs *rendezvous.Session
		for i := 0; ; i++ { // the host may still be registering
			vs, err = rendezvous.Dial(ctx, proxy, hostKey.id, nil)
			if err == nil || i == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("rendezvous.Dial: %v", err)
		}
		defer vs.Close()
		conn, verr := session.Dial(ctx, vs, hostKey.id, session.Config{LoopbackOnly: true, HandshakeTimeout: 15 * time.Second}, auth.ViewerConfig{Key: viewerKey.priv, Code: typed})
		if conn != nil {
			conn.Close()
		}
		select {
		case hostErr = <-hostResults:
		case <-ctx.Done():
			hostErr = errors.New("the host never finished")
		}
		if hostErr == nil {
			release <- struct{}{} // the host holds a session that succeeded: it may end it now
		}
		return verr, hostErr
	}

	shown, _ := codes.Generate()
	norm := auth.NormalizeCode(shown)
	typed := strings.ToLower(norm[:4] + " " + norm[4:])
	if verr, herr := connect(typed); verr != nil || herr != nil {
		t.Fatalf("the genuine code session failed: viewer %v, host %v", verr, herr)
	}
	seen := rec.String()
	if !strings.Contains(seen, "a=fingerprint") || !strings.Contains(seen, `"type":"offer"`) || !strings.Contains(seen, `"level":"DEBUG"`) {
		t.Fatalf("the capture misses the signaling it should hold (%d bytes)", len(seen))
	}
	forms := []string{shown, norm, typed, strings.ToLower(norm), strings.ToLower(shown),
		base64.StdEncoding.EncodeToString([]byte(norm)), base64.RawStdEncoding.EncodeToString([]byte(norm)),
		base64.URLEncoding.EncodeToString([]byte(norm)), hex.EncodeToString([]byte(norm))}
	for _, f := range forms {
		if strings.Contains(strings.ToLower(seen), strings.ToLower(f)) {
			t.Errorf("the rendezvous saw the code as %q", f)
		}
	}
	t.Logf("the rendezvous saw %d bytes (WebSocket bodies and debug log) during a code session; the code %s appears in none of %d forms", len(seen), shown, len(forms))

	// Reused: the code was consumed by the successful session.
	if verr, herr := connect(shown); !errors.Is(verr, auth.ErrNoCode) || herr == nil {
		t.Errorf("reused code: viewer %v, host %v; want ErrNoCode", verr, herr)
	}
	// Wrong: one guess, and then the right code is gone too.
	shown, _ = codes.Generate()
	wrong := []byte(auth.NormalizeCode(shown))
	wrong[0] = map[bool]byte{true: 'B', false: 'A'}[wrong[0] == 'A']
	if verr, herr := connect(string(wrong)); !errors.Is(verr, auth.ErrBadCode) || !errors.Is(herr, auth.ErrBadCode) {
		t.Errorf("wrong code: viewer %v, host %v; want ErrBadCode", verr, herr)
	}
	if verr, _ := connect(shown); !errors.Is(verr, auth.ErrNoCode) {
		t.Errorf("right code after a wrong guess: viewer %v; want ErrNoCode", verr)
	}
	// Expired: the host's clock is past the code's ten minutes.
	shown, _ = codes.Generate()
	skew.Store(int64(auth.DefaultCodeTTL + time.Second))
	if verr, herr := connect(shown); !errors.Is(verr, auth.ErrCodeExpired) || !errors.Is(herr, auth.ErrCodeExpired) {
		t.Errorf("expired code: viewer %v, host %v; want ErrCodeExpired", verr, herr)
	}
	skew.Store(0)
	if verr, _ := connect(shown); !errors.Is(verr, auth.ErrNoCode) {
		t.Errorf("an expired code was still usable: %v", verr)
	}
}
