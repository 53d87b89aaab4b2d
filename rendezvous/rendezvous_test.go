package rendezvous

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/version"
	"github.com/deskport/deskport/signaling"
)

// leakCheck fails the test if goroutines outlive it. Register it first: cleanups run last-in
// first-out, so it runs after everything else has been shut down.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

type testServer struct {
	*Server
	URL        string
	addr       string
	registered chan string
	offline    chan string
	stop       func()
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, ln, cfg)
}

func startServerOn(t *testing.T, ln net.Listener, cfg Config) *testServer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, URL: "http://" + ln.Addr().String(), addr: ln.Addr().String(),
		registered: make(chan string, 16), offline: make(chan string, 16)}
	s.testHookRegistered = func(id string) { ts.registered <- id }
	s.testHookOffline = func(id string) { ts.offline <- id }
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

func newKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, identity.HostID(pub)
}

// startHost runs a HostClient until the test ends and returns the sessions it accepts.
func startHost(t *testing.T, h *HostClient) (sessions <-chan *Session, stop func() error) {
	t.Helper()
	ch := make(chan *Session, 16)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- h.Run(ctx, func(s *Session) {
			ch <- s
			<-ctx.Done()
			s.Close()
		})
	}()
	var err error
	done := false
	stop = func() error {
		if !done {
			done = true
			cancel()
			err = <-errc
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return ch, stop
}

func recv(t *testing.T, s *Session) *signaling.Message {
	t.Helper()
	select {
	case m, ok := <-s.Recv():
		if !ok {
			t.Fatal("Recv closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a message")
	}
	return nil
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

func TestRoutingBetweenHostAndViewer(t *testing.T) {
	leakCheck(t)
	ice := []ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}}
	ts := startServer(t, Config{ICEServers: ice})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key})
	if got := <-ts.registered; got != hostID {
		t.Fatalf("registered %s, want %s", got, hostID)
	}
	ctx := ctx10(t)

	v, err := Dial(ctx, ts.URL, strings.ToUpper(hostID), &DialOptions{Version: "test/1"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if len(v.ID()) != 32 || v.HostID() != hostID || len(v.ICEServers()) != 1 {
		t.Fatalf("session %q host %q ice %v", v.ID(), v.HostID(), v.ICEServers())
	}
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	h := <-accepted
	if h.ID() != v.ID() {
		t.Fatalf("host session %s, viewer session %s", h.ID(), v.ID())
	}
	if !strings.HasPrefix(h.ViewerAddr(), "127.0.0.1:") {
		t.Fatalf("ViewerAddr = %q", h.ViewerAddr())
	}
	if got := h.ICEServers(); len(got) != 1 || got[0].URLs[0] != ice[0].URLs[0] {
		t.Fatalf("host ICE servers %v", got)
	}
	if m := recv(t, h); m.Type != signaling.TypeOffer || m.SDP != "v=0 offer" || m.ViewerAddr != h.ViewerAddr() {
		t.Fatalf("host got %+v", m)
	}
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	cand := &signaling.Candidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 5000 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0))}
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: cand}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, v); m.Type != signaling.TypeAnswer || m.SDP != "v=0 answer" {
		t.Fatalf("viewer got %+v", m)
	}
	if m := recv(t, v); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != cand.Candidate || *m.Candidate.SDPMid != "0" {
		t.Fatalf("viewer got %+v", m)
	}
	// End of candidates from the viewer.
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{}}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, h); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != "" {
		t.Fatalf("host got %+v", m)
	}
	// The viewer closes: the host gets its bye (no code: it came from the peer) and Recv ends.
	v.Close()
	if m := recv(t, h); m.Type != signaling.TypeBye || m.Code != "" {
		t.Fatalf("host got %+v", m)
	}
	if _, ok := <-h.Recv(); ok {
		t.Fatal("host Recv not closed after bye")
	}
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{}}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Send after bye = %v", err)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	leakCheck(t)
	// The server answers to another name, as if the host had been talked into registering
	// with a relaying rendezvous: the host sees the name in the challenge and does not sign.
	ts := startServer(t, Config{PublicHosts: []string{"rendezvous.example.com"}})
	key, _ := newKey(t)
	err := (&HostClient{URL: ts.URL, Key: key}).Run(ctx10(t), func(*Session) {})
	if !errors.Is(err, ErrWrongRendezvous) {
		t.Fatalf("Run = %v, want ErrWrongRendezvous", err)
	}
	if !strings.Contains(err.Error(), "rendezvous.example.com") {
		t.Fatalf("error does not say which name to sign: %v", err)
	}
}

func TestBadSignatureRawClient(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, err := readMsg(ctx, ws, signaling.TypeChallenge); err != nil {
		t.Fatal(err)
	}
	keyA, _ := newKey(t)
	keyB, _ := newKey(t)
	// A signature by B over a random nonce, presented with A's public key.
	reg := &signaling.Message{Type: signaling.TypeRegister, PublicKey: b64(keyA.Public().(ed25519.PublicKey)), Signature: b64(ed25519.Sign(keyB, []byte("x"))), Version: "t"}
	if err := writeMsg(ctx, ws, reg); err != nil {
		t.Fatal(err)
	}
	_, err = readMsg(ctx, ws, signaling.TypeRegistered)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want bad_signature", err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after a bad signature: %v", err)
	}
}

func TestUnknownAndOfflineHost(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	key, hostID := newKey(t)

	_, err := Dial(ctx, ts.URL, hostID, nil)
	if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), "host id") {
		t.Fatalf("Dial before registration = %v, want ErrUnknownHost", err)
	}
	_, stop := startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	<-ts.offline
	_, err = Dial(ctx, ts.URL, hostID, nil)
	if !errors.Is(err, ErrHostOffline) || !strings.Contains(err.Error(), "last seen") {
		t.Fatalf("Dial after the host left = %v, want ErrHostOffline", err)
	}
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != signaling.CodeHostOffline {
		t.Fatalf("not a RefusedError: %#v", err)
	}
	if _, err := Dial(ctx, ts.URL, "not-an-id", nil); !errors.Is(err, identity.ErrBadHostID) {
		t.Fatalf("Dial with a malformed ID = %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	leakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	_, hostID := newKey(t)
	_, err = Dial(ctx10(t), url, hostID, nil)
	if !errors.Is(err, ErrRendezvousUnreachable) || !strings.Contains(err.Error(), "DESKPORT_RENDEZVOUS") || !strings.Contains(err.Error(), url) {
		t.Fatalf("Dial = %v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("the dial error is not wrapped: %#v", err)
	}
}

// rawViewer opens a viewer WebSocket without the client, to send what the client never would.
func rawViewer(t *testing.T, ctx context.Context, ts *testServer) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/viewer", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func TestViewerCannotInjectIntoAnotherSession(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered

	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "real"}); err != nil {
		t.Fatal(err)
	}
	h := <-accepted
	recv(t, h)

	// A second viewer, with a session of its own, tries the first viewer's session ID.
	evil := rawViewer(t, ctx, ts)
	writeMsg(ctx, evil, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: "evil"})
	if _, err := readMsg(ctx, evil, signaling.TypeSession); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*signaling.Message{
		{Type: signaling.TypeOffer, Session: v.ID(), SDP: "evil"},
		{Type: signaling.TypeCandidate, Session: v.ID(), Candidate: &signaling.Candidate{Candidate: "evil"}},
		{Type: signaling.TypeBye, Session: v.ID()},
	} {
		if err := writeMsg(ctx, evil, m); err != nil {
			t.Fatal(err)
		}
		_, err := readMsg(ctx, evil, signaling.TypeBye)
		var re *RefusedError
		if !errors.As(err, &re) || re.Code != signaling.CodeUnknownSession {
			t.Fatalf("injecting %s: %v, want unknown_session", m.Type, err)
		}
	}
	// Nothing reached the host: the next thing it sees is the real viewer's message.
	v.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{Candidate: "real"}})
	if m := recv(t, h); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != "real" {
		t.Fatalf("host got %+v", m)
	}
	// A viewer may not set what only the rendezvous sets.
	writeMsg(ctx, evil, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: "evil"})
	sess, _ := readMsg(ctx, evil, signaling.TypeSession)
	writeMsg(ctx, evil, &signaling.Message{Type: signaling.TypeOffer, Session: sess.Session, SDP: "x", ViewerAddr: "10.0.0.1:1"})
	if _, err := readMsg(ctx, evil, signaling.TypeOffer); !errors.Is(err, ErrRefused) {
		t.Fatalf("spoofed viewerAddr: %v", err)
	}
}

func TestPerIPCap(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{MaxConnsPerIP: 2})
	ctx := ctx10(t)
	rawViewer(t, ctx, ts)
	rawViewer(t, ctx, ts)
	_, hostID := newKey(t)
	_, err := Dial(ctx, ts.URL, hostID, nil)
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "too many connections from 127.0.0.1") {
		t.Fatalf("third connection: %v", err)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	ws := rawViewer(t, ctx, ts)
	// A message at the limit is read (and refused as a message, not as a size).
	if err := ws.Write(ctx, websocket.MessageText, make([]byte, signaling.MaxMessageBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := readMsg(ctx, ws, signaling.TypeSession); !errors.Is(err, ErrRefused) {
		t.Fatalf("at the limit: %v", err)
	}
	if err := ws.Write(ctx, websocket.MessageText, make([]byte, signaling.MaxMessageBytes+1)); err != nil {
		t.Fatal(err)
	}
	_, _, err := ws.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig || ce.Reason != "message exceeds the 65536-byte limit" {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestHostHandshakeLimit(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, make([]byte, 5000))
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Fatalf("got %v", err)
			}
			return
		}
	}
}

func TestPendingPerHostCap(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{MaxPendingPerHost: 4, TrustProxyHeaders: true})
	ctx := ctx10(t)
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	from := func(ip string) *DialOptions {
		return &DialOptions{HTTPClient: &http.Client{Transport: forwardedFor(ip)}}
	}
	// One address may hold half of the host's waiting attempts.
	var first []*Session
	for range 2 {
		v, err := Dial(ctx, ts.URL, hostID, from("203.0.113.1"))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		first = append(first, v)
	}
	if _, err := Dial(ctx, ts.URL, hostID, from("203.0.113.1")); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "your address") {
		t.Fatalf("third attempt from one address: %v", err)
	}
	for range 2 {
		v, err := Dial(ctx, ts.URL, hostID, from("203.0.113.2"))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
	}
	// The host is full; a newcomer evicts the oldest attempt of the busiest address.
	v, err := Dial(ctx, ts.URL, hostID, from("203.0.113.3"))
	if err != nil {
		t.Fatalf("a newcomer to a full host: %v", err)
	}
	defer v.Close()
	select {
	case m := <-first[0].Recv():
		if m != nil && m.Type != signaling.TypeBye {
			t.Fatalf("the evicted session got %+v, want a bye", m)
		}
	case <-ctx.Done():
		t.Fatal("the oldest waiting session was not evicted")
	}
}

// forwardedFor sets X-Forwarded-For, so one test can play clients at several addresses.
type forwardedFor string

func (ip forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(ip))
	return http.DefaultTransport.RoundTrip(r)
}

func TestPendingSessionExpires(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{PendingTimeout: 50 * time.Millisecond})
	ctx := ctx10(t)
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "x"})
	h := <-accepted
	recv(t, h)
	for _, s := range []*Session{v, h} {
		if m := recv(t, s); m.Type != signaling.TypeBye || m.Code != signaling.ByeExpired {
			t.Fatalf("got %+v, want bye expired", m)
		}
	}
}

func TestSessionsPerViewerConnCap(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{MaxSessionsPerViewerConn: 1})
	ctx := ctx10(t)
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	ws := rawViewer(t, ctx, ts)
	writeMsg(ctx, ws, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: "t"})
	if _, err := readMsg(ctx, ws, signaling.TypeSession); err != nil {
		t.Fatal(err)
	}
	writeMsg(ctx, ws, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: "t"})
	_, err := readMsg(ctx, ws, signaling.TypeSession)
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != signaling.CodeTooManySessions {
		t.Fatalf("second session: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	leakCheck(t)
	// A rate this low cannot refill while the test runs, so the burst is all there is.
	ts := startServer(t, Config{MessageRate: 0.001, MessageBurst: 3})
	ctx := ctx10(t)
	ws := rawViewer(t, ctx, ts)
	bad := []byte(`{"type":"hello"}`)
	for range 3 {
		ws.Write(ctx, websocket.MessageText, bad)
		if _, err := readMsg(ctx, ws, signaling.TypeSession); !errors.Is(err, ErrRefused) {
			t.Fatalf("within the burst: %v", err)
		}
	}
	for range maxRateViolations {
		ws.Write(ctx, websocket.MessageText, bad)
		if _, err := readMsg(ctx, ws, signaling.TypeSession); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("over the rate: %v", err)
		}
	}
	ws.Write(ctx, websocket.MessageText, bad)
	if _, err := readMsg(ctx, ws, signaling.TypeSession); !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "closing") {
		t.Fatalf("repeated abuse: %v", err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after repeated abuse: %v", err)
	}
}

func TestHostReconnectsAfterServerRestart(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	<-ts.registered
	old, err := Dial(ctx10(t), ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.Send(ctx10(t), &signaling.Message{Type: signaling.TypeOffer, SDP: "x"})
	h := <-accepted
	ts.stop()
	// The session handed to accept outlives the connection; only its signaling ends.
	for range h.Recv() {
	}

	ln, err := net.Listen("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	ts2 := startServerOn(t, ln, Config{})
	if got := <-ts2.registered; got != hostID {
		t.Fatalf("re-registered %s", got)
	}
	v, err := Dial(ctx10(t), ts2.URL, hostID, nil)
	if err != nil {
		t.Fatalf("Dial after restart: %v", err)
	}
	v.Close()
}

func TestByeOnDisconnect(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	ctx := ctx10(t)
	key, hostID := newKey(t)
	// This host's accept leaves its sessions alone, so that only the rendezvous says bye.
	accepted := make(chan *Session, 1)
	hctx, stop := context.WithCancel(context.Background())
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- (&HostClient{URL: ts.URL, Key: key}).Run(hctx, func(s *Session) { accepted <- s }) }()
	<-ts.registered
	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "x"})
	h := <-accepted
	recv(t, h)
	h.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "y"})
	recv(t, v)
	// The host agent goes away: the viewer hears it from the rendezvous, and the host's
	// session stops delivering.
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, ok := <-h.Recv(); ok {
		t.Fatal("host Recv not closed")
	}
	if m := recv(t, v); m.Type != signaling.TypeBye || m.Code != signaling.ByePeerGone {
		t.Fatalf("viewer got %+v", m)
	}
	if _, ok := <-v.Recv(); ok {
		t.Fatal("viewer Recv not closed")
	}
}

func TestHealthz(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	v, err := Dial(ctx10(t), ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !h.OK || h.Hosts != 1 || h.Sessions != 1 {
		t.Fatalf("healthz %d %+v", resp.StatusCode, h)
	}
	// The build is the one --version prints (the packaging test checks a release build's).
	if want := version.Get(); h.Build != want || h.Build.Version == "" || h.Build.Go != runtime.Version() {
		t.Errorf("healthz build %+v, want %+v", h.Build, want)
	}
}

func TestOriginCheck(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{AllowedOrigins: []string{"https://app.example.com"}})
	ctx := ctx10(t)
	for origin, ok := range map[string]bool{
		"https://evil.example.com": false,
		"https://app.example.com":  true,
		"http://" + ts.addr:        true,
	} {
		ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/viewer", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if (err == nil) != ok {
			t.Errorf("origin %s: err %v, want allowed=%v", origin, err, ok)
		}
		if ws != nil {
			ws.CloseNow()
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{MaxMessageBytes: signaling.MaxMessageBytes + 1},
		{MaxConnsPerIP: -1},
		{ReadTimeout: -time.Second},
		{AllowedOrigins: []string{"example.com"}},
		{ICEServers: []ICEServer{{URLs: []string{"http://x"}}}},
		{PublicHosts: []string{"a/b"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string][2]string{
		"http://127.0.0.1:8080":            {"ws://127.0.0.1:8080/v1/host", "127.0.0.1:8080"},
		"https://rv.example.com/deskport/": {"wss://rv.example.com/deskport/v1/host", "rv.example.com"},
		"wss://rv.example.com":             {"wss://rv.example.com/v1/host", "rv.example.com"},
	} {
		u, h, err := endpoint(in, "/v1/host")
		if err != nil || u != want[0] || h != want[1] {
			t.Errorf("endpoint(%q) = %q, %q, %v", in, u, h, err)
		}
	}
	for _, in := range []string{"rv.example.com:443", "ftp://x", "http://"} {
		if _, _, err := endpoint(in, "/v1/host"); err == nil {
			t.Errorf("endpoint(%q) accepted", in)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestPeerThatDoesNotAnswerPingsIsDropped(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{PingInterval: 10 * time.Millisecond, ReadTimeout: 50 * time.Millisecond})
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	m, err := readMsg(ctx, ws, signaling.TypeChallenge)
	if err != nil {
		t.Fatal(err)
	}
	key, hostID := newKey(t)
	nonce, _ := base64.StdEncoding.DecodeString(m.Nonce)
	sig := ed25519.Sign(key, signaling.RegisterProof(ts.addr, nonce))
	writeMsg(ctx, ws, &signaling.Message{Type: signaling.TypeRegister, PublicKey: b64(key.Public().(ed25519.PublicKey)), Signature: b64(sig), Version: "t"})
	if _, err := readMsg(ctx, ws, signaling.TypeRegistered); err != nil {
		t.Fatal(err)
	}
	<-ts.registered
	// This client no longer reads, so it never answers a ping.
	if got := <-ts.offline; got != hostID {
		t.Fatalf("offline %s", got)
	}
}

func TestHostThatDoesNotRegisterIsDropped(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{HandshakeTimeout: 20 * time.Millisecond})
	ctx := ctx10(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/host", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	readMsg(ctx, ws, signaling.TypeChallenge)
	if _, err := readMsg(ctx, ws, signaling.TypeRegistered); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no register message") {
		t.Fatalf("got %v", err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("got %v", err)
	}
}

// TestPerIPCapsCountIPv6Slash64: the connection cap and the per-address pending cap count an
// IPv6 /64 as one address, so one subscriber cannot multiply them by changing addresses.
func TestPerIPCapsCountIPv6Slash64(t *testing.T) {
	leakCheck(t)
	ctx := ctx10(t)
	from := func(ip string) *DialOptions {
		return &DialOptions{HTTPClient: &http.Client{Transport: forwardedFor(ip)}}
	}

	conns := startServer(t, Config{MaxConnsPerIP: 2, TrustProxyHeaders: true})
	rawViewerFrom(t, ctx, conns, "2001:db8:1:2::a")
	rawViewerFrom(t, ctx, conns, "2001:db8:1:2:ffff::b")
	_, hostID := newKey(t)
	if _, err := Dial(ctx, conns.URL, hostID, from("2001:db8:1:2::c")); !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "2001:db8:1:2::/64") {
		t.Fatalf("a third connection from the same /64: %v, want the per-address cap", err)
	}
	rawViewerFrom(t, ctx, conns, "2001:db8:1:3::a") // another /64 is another address

	pending := startServer(t, Config{MaxPendingPerHost: 4, TrustProxyHeaders: true})
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: pending.URL, Key: key})
	<-pending.registered
	// Per-address pending attempts: half of 4, counted per /64.
	for _, ip := range []string{"2001:db8:1:2::a", "2001:db8:1:2::b"} {
		v, err := Dial(ctx, pending.URL, hostID, from(ip))
		if err != nil {
			t.Fatalf("from %s: %v", ip, err)
		}
		defer v.Close()
	}
	if _, err := Dial(ctx, pending.URL, hostID, from("2001:db8:1:2:ffff::c")); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "your address") {
		t.Fatalf("a third attempt from the same /64: %v, want the per-address pending refusal", err)
	}
	v, err := Dial(ctx, pending.URL, hostID, from("2001:db8:1:3::a"))
	if err != nil {
		t.Fatalf("from another /64: %v", err)
	}
	v.Close()
}

func rawViewerFrom(t *testing.T, ctx context.Context, ts *testServer, ip string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/v1/viewer", &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {ip}}})
	if err != nil {
		t.Fatalf("connect from %s: %v", ip, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}
