package rendezvous

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/signaling"
)

// startRelay is a malicious rendezvous: hosts that dial it get the real server's challenge,
// relayed on a WebSocket that it opens to the real server with its own name in the Host header
// (what it must do for the proof its hosts sign to verify there). rewrite, when set, changes
// what the real server sends before the host sees it; self is the relay's own host:port. It
// returns the relay's URL.
func startRelay(t *testing.T, target string, rewrite func(m *signaling.Message, self string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up, _, err := websocket.Dial(ctx, "ws://"+target+r.URL.Path, &websocket.DialOptions{Host: r.Host})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		down, err := websocket.Accept(w, r, nil)
		if err != nil {
			up.CloseNow()
			return
		}
		pump := func(from, to *websocket.Conn, rw func(*signaling.Message, string)) {
			defer from.CloseNow()
			defer to.CloseNow()
			for {
				typ, b, err := from.Read(ctx)
				if err != nil {
					return
				}
				if rw != nil {
					if m, err := signaling.Decode(b); err == nil {
						rw(m, ln.Addr().String())
						b, _ = signaling.Encode(m)
					}
				}
				if to.Write(ctx, typ, b) != nil {
					return
				}
			}
		}
		wg.Add(1)
		go func() { defer wg.Done(); pump(down, up, nil) }()
		pump(up, down, rewrite)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// TestRelayedRegistrationRefused: a rendezvous that relays a host's registration to another
// one cannot register the host there once that one knows its own name. Relayed as it is, the
// challenge names the real server and the host, which dialled the relay, refuses to sign;
// with the names rewritten the host signs the relay's name, which the real server refuses.
func TestRelayedRegistrationRefused(t *testing.T) {
	leakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerOn(t, ln, Config{PublicHosts: []string{ln.Addr().String()}})
	key, _ := newKey(t)

	verbatim := startRelay(t, ts.addr, nil)
	err = (&HostClient{URL: verbatim, Key: key}).Run(ctx10(t), func(*Session) {})
	if !errors.Is(err, ErrWrongRendezvous) || !strings.Contains(err.Error(), ts.addr) {
		t.Fatalf("through a verbatim relay: Run = %v, want ErrWrongRendezvous naming %s", err, ts.addr)
	}

	rewriting := startRelay(t, ts.addr, func(m *signaling.Message, self string) {
		if m.Type == signaling.TypeChallenge {
			m.Names = []string{self}
		}
	})
	err = (&HostClient{URL: rewriting, Key: key}).Run(ctx10(t), func(*Session) {})
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("through a rewriting relay: Run = %v, want ErrBadSignature", err)
	}
	select {
	case id := <-ts.registered:
		t.Fatalf("host %s registered through a relay", id)
	default:
	}

	// The genuine host, dialling the server's own name, registers.
	startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
}

// TestPublicHostWithoutPort: a name configured without a port accepts the port the host
// dialled (a server cannot always know the port its clients use), and the challenge names it.
func TestPublicHostWithoutPort(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{PublicHosts: []string{"127.0.0.1", "rv.example.com"}})
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readMsg(ctx, ws, signaling.TypeChallenge)
	ws.CloseNow()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Names, " ") != "127.0.0.1 rv.example.com" {
		t.Fatalf("challenge names %q", m.Names)
	}
	key, _ := newKey(t)
	startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
}

// syncBuffer is a log sink the test reads while the client writes.
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

// TestReplacedHostComesBack: a host displaced by another registration of its key (a second
// agent, or a replay) says why in its log and registers again after a backoff, rather than
// leaving its ID to the other registration for good.
func TestReplacedHostComesBack(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	key, hostID := newKey(t)
	logs := &syncBuffer{}
	first := &HostClient{URL: ts.URL, Key: key, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	_, stopFirst := startHost(t, first)
	<-ts.registered
	// The other registration: a raw client that registers once and then stays quiet.
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ch, err := readMsg(ctx, ws, signaling.TypeChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeMsg(ctx, ws, registerMsg(t, key, ts.addr, ch.Nonce)); err != nil {
		t.Fatal(err)
	}
	if _, err := readMsg(ctx, ws, signaling.TypeRegistered); err != nil {
		t.Fatal(err)
	}
	<-ts.registered // the raw client
	select {
	case id := <-ts.registered: // the first agent, back
		if id != hostID {
			t.Fatalf("registered %s", id)
		}
	case <-ctx.Done():
		t.Fatalf("the replaced host never registered again; its log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "replaced this agent") {
		t.Errorf("the replaced host did not log why; its log:\n%s", logs.String())
	}
	if err := stopFirst(); err != nil {
		t.Fatalf("Run = %v after being replaced and cancelled, want nil", err)
	}
}

// registerMsg is a host's register message for a challenge nonce, signed for name.
func registerMsg(t *testing.T, key ed25519.PrivateKey, name, nonce string) *signaling.Message {
	t.Helper()
	n, err := base64.StdEncoding.DecodeString(nonce)
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(key, signaling.RegisterProof(name, n))
	return &signaling.Message{Type: signaling.TypeRegister, PublicKey: b64(key.Public().(ed25519.PublicKey)), Signature: b64(sig), Version: "t"}
}
