package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// chanSignaler is one end of an in-memory signaling pair.
type chanSignaler struct {
	out chan<- *signaling.Message
	in  <-chan *signaling.Message
}

func (s chanSignaler) Send(ctx context.Context, m *signaling.Message) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s chanSignaler) Recv() <-chan *signaling.Message { return s.in }

func signalPair() (a, b chanSignaler) {
	ab := make(chan *signaling.Message, 256)
	ba := make(chan *signaling.Message, 256)
	return chanSignaler{out: ab, in: ba}, chanSignaler{out: ba, in: ab}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pair connects a viewer and a host with the given networks (nil = real loopback) and returns
// both ends, authenticated with a trusted key.
type pairConfig struct {
	viewerNet, hostNet transport.Net
	code               string
	codes              *auth.CodeStore
	authorize          bool
	// stripViewerOffer removes the datagram-size attribute from the viewer's offer.
	stripViewerOffer bool
	// viewerLog and hostLog receive each side's log; nil discards.
	viewerLog, hostLog *slog.Logger
	// toViewer and toHost, when set, get the raw signaling channels towards each side, as the
	// rendezvous holds them.
	toViewer, toHost *chan<- *signaling.Message
	// timeout is both ends' HandshakeTimeout (zero: the default).
	timeout time.Duration
	// lane lets the viewer offer the direct TCP lane (lane.go); onHost, when set, runs as soon
	// as Accept returned, while Dial may still wait for the lane.
	lane   bool
	onHost func(*HostConn)
}

func connectPair(t testing.TB, pc pairConfig) (viewer *ViewerConn, host *HostConn, verr, herr error) {
	t.Helper()
	hostKey, viewerKey := newKey(t), newKey(t)
	hostID := identity.HostID(hostKey.Public().(ed25519.PublicKey))
	vs, hs := signalPair()
	if pc.toViewer != nil {
		*pc.toViewer = hs.out
	}
	if pc.toHost != nil {
		*pc.toHost = vs.out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		host, herr = Accept(ctx, hs, hostID, Config{Net: pc.hostNet, LoopbackOnly: pc.hostNet == nil, Logger: pc.hostLog, HandshakeTimeout: pc.timeout}, auth.HostConfig{
			Key: hostKey,
			Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
				return auth.Options{}, pc.authorize && bytes.Equal(k, viewerKey.Public().(ed25519.PublicKey))
			},
			Codes: pc.codes,
		})
		if herr == nil && pc.onHost != nil {
			pc.onHost(host)
		}
	}()
	var vsig Signaler = vs
	if pc.stripViewerOffer {
		vsig = stripDatagram{vs}
	}
	viewer, verr = Dial(ctx, vsig, hostID, Config{Net: pc.viewerNet, LoopbackOnly: pc.viewerNet == nil, Logger: pc.viewerLog, HandshakeTimeout: pc.timeout, NoDirectTCP: !pc.lane}, auth.ViewerConfig{Key: viewerKey, Code: pc.code})
	wg.Wait()
	t.Cleanup(func() {
		if viewer != nil {
			viewer.Close()
		}
		if host != nil {
			host.Close()
		}
	})
	return viewer, host, verr, herr
}

// servePayload accepts one connection on a real loopback listener and writes payload to it.
func servePayload(t *testing.T, payload []byte) net.Listener {
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
		c.Write(payload)
		c.Close()
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// forwardThrough runs a tunnel server on host and fetches payload through one forward.
func forwardThrough(t *testing.T, viewer *ViewerConn, host *HostConn, payload []byte) {
	t.Helper()
	target := servePayload(t, payload)
	policy, err := forward.NewPolicy([]string{target.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, host.Mux) }()
	defer func() { cancel(); host.Close(); <-srvDone }()

	client := forward.NewClient(viewer.Mux, nil)
	c, err := client.Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatalf("dial through the tunnel: %v", err)
	}
	defer c.Close()
	h := sha256.New()
	start := time.Now()
	n, err := io.Copy(h, c)
	t.Logf("moved %d bytes in %v (%.2f MB/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds()/1e6)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	want := sha256.Sum256(payload)
	if n != int64(len(payload)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d bytes with a different SHA-256, want %d bytes byte-exact", n, len(payload))
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func TestLoopbackTrustedKey(t *testing.T) {
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if host.Peer.Method != "key" || viewer.Result.Method != "key" {
		t.Fatalf("methods %q/%q, want key", host.Peer.Method, viewer.Result.Method)
	}
	forwardThrough(t, viewer, host, payload(4<<20))
}

func TestLoopbackUnauthorized(t *testing.T) {
	_, _, verr, herr := connectPair(t, pairConfig{authorize: false})
	if !errors.Is(verr, auth.ErrUnauthorized) {
		t.Fatalf("viewer error %v, want ErrUnauthorized", verr)
	}
	if herr == nil {
		t.Fatal("the host accepted a viewer it does not know")
	}
}

func TestLoopbackCode(t *testing.T) {
	codes := auth.NewCodeStore(time.Minute, nil)
	code, _ := codes.Generate()
	viewer, host, verr, herr := connectPair(t, pairConfig{code: code, codes: codes})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if host.Peer.Method != "code" {
		t.Fatalf("method %q, want code", host.Peer.Method)
	}
	forwardThrough(t, viewer, host, payload(1<<20))
}

// lossyRouter builds a vnet with one-way delay rtt/2 and the given loss, with a viewer and a
// host net on it.
func lossyRouter(t *testing.T, rtt time.Duration, loss float64) (viewerNet, hostNet *vnet.Net) {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.99.0.0/24", MinDelay: rtt / 2, QueueSize: 100000, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 11))
	router.AddChunkFilter(func(c vnet.Chunk) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() >= loss
	})
	viewerNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.99.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	hostNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.99.0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := router.AddNet(viewerNet); err != nil {
		t.Fatal(err)
	}
	if err := router.AddNet(hostNet); err != nil {
		t.Fatal(err)
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	return viewerNet, hostNet
}

// TestLongLossyPath moves 16 MiB byte-exact through a forward over a 100 ms RTT path that drops
// 5% of packets.
func TestLongLossyPath(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 16 MiB over a slow simulated path")
	}
	vn, hn := lossyRouter(t, 100*time.Millisecond, 0.05)
	viewer, host, verr, herr := connectPair(t, pairConfig{viewerNet: vn, hostNet: hn, authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	forwardThrough(t, viewer, host, payload(16<<20))
}

// BenchmarkForwardLoopback moves b.N × 1 MiB through one forward between two in-process
// sessions on loopback: `go test -bench ForwardLoopback -cpuprofile cpu.out ./session` shows
// where a forwarded byte's CPU goes. The sessions use loopback's 8124-byte packets.
func BenchmarkForwardLoopback(b *testing.B) {
	benchmarkForward(b, pairConfig{authorize: true})
}

// BenchmarkForwardSmallPackets is BenchmarkForwardLoopback with the viewer's datagram-size
// attribute removed, which holds both sides to 1191-byte packets: per byte, the packet and
// syscall count of a real path (a LAN's 1404-byte packets are close), without leaving the
// process.
func BenchmarkForwardSmallPackets(b *testing.B) {
	benchmarkForward(b, pairConfig{authorize: true, stripViewerOffer: true})
}

// benchmarkForward moves b.N × 1 MiB through one forward between two in-process sessions.
func benchmarkForward(b *testing.B, pc pairConfig) {
	viewer, host, verr, herr := connectPair(b, pc)
	if verr != nil || herr != nil {
		b.Fatalf("connect: %v %v", verr, herr)
	}
	defer viewer.Close()
	defer host.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	chunk := make([]byte, 1<<20)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	policy, _ := forward.NewPolicy([]string{ln.Addr().String()}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, host.Mux)
	}()
	defer func() { cancel(); host.Close(); <-srvDone }()
	c, err := forward.NewClient(viewer.Mux, nil).Dial(ctx, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(1 << 20)
	d0, s0 := batchWriteTotals()
	cpu0 := processCPU()
	b.ResetTimer()
	if _, err := io.Copy(io.Discard, c); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	// CPU of the whole process (both sessions) per GiB, as the bench reports it, and how many
	// datagrams each batched write carried (docs/bench.md, "Batched writes").
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/(float64(b.N)/1024), "cpu-s/GiB")
	}
	if d, s := batchWriteTotals(); s > s0 {
		b.ReportMetric(float64(d-d0)/float64(s-s0), "datagrams/sendmmsg")
	}
}

// warnings passes each Warn-or-above message to a channel.
type warnings chan string

func (w warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) Handle(_ context.Context, rec slog.Record) error {
	select {
	case w <- rec.Message:
	default:
	}
	return nil
}
func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }

// await waits for n messages containing sub.
func (w warnings) await(t *testing.T, who string, n int, sub string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for n > 0 {
		select {
		case m := <-w:
			if strings.Contains(m, sub) {
				n--
			}
		case <-timeout:
			t.Fatalf("%s: %d more warnings %q never came", who, n, sub)
		}
	}
}

// TestLateDescriptionIgnored: an offer or answer that reaches a connected viewer or host (only
// a hostile rendezvous sends one) is ignored and reported, and the session carries on.
func TestLateDescriptionIgnored(t *testing.T) {
	vlog, hlog := make(warnings, 64), make(warnings, 64)
	var toViewer, toHost chan<- *signaling.Message
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, viewerLog: slog.New(vlog), hostLog: slog.New(hlog),
		toViewer: &toViewer, toHost: &toHost})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	// A hostile rendezvous replays a fresh offer to the viewer and an answer to the host.
	toViewer <- &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0\r\n"}
	toViewer <- &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0\r\n"}
	toHost <- &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0\r\n"}
	vlog.await(t, "viewer", 2, "ignored a session description")
	hlog.await(t, "host", 1, "ignored a session description")
	if v, h := viewer.IgnoredDescriptions(), host.IgnoredDescriptions(); v != 2 || h != 1 {
		t.Errorf("ignored: viewer %d, host %d; want 2 and 1", v, h)
	}
	forwardThrough(t, viewer, host, payload(1<<20))
}

// TestNoPathSaysWhy connects two ends over a simulated network that drops every packet, with no
// STUN or TURN server: both must say that no network path was found, what was tried and what to
// do, and the host must not call it a refused viewer.
func TestNoPathSaysWhy(t *testing.T) {
	vn, hn := lossyRouter(t, 0, 1)
	_, _, verr, herr := connectPair(t, pairConfig{viewerNet: vn, hostNet: hn, authorize: true, timeout: 3 * time.Second})
	for end, err := range map[string]error{"viewer": verr, "host": herr} {
		var pe *PathError
		if !errors.As(err, &pe) || !errors.Is(err, ErrConnectionFailed) {
			t.Fatalf("%s: %v, want a PathError", end, err)
		}
		if errors.Is(err, auth.ErrUnauthorized) {
			t.Fatalf("%s: a network failure reported as a refusal: %v", end, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"no network path to the peer: this end offered host/udp candidates; the peer offered host/udp candidates",
			"answered",
			"no TURN relay on either end",
			"start the rendezvous with --turn",
			"no STUN server",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", end, msg, want)
			}
		}
		if pe.Pairs == 0 || pe.Answered != 0 {
			t.Errorf("%s: %d pairs checked, %d answered; want some checked, none answered", end, pe.Pairs, pe.Answered)
		}
		t.Logf("%s: %v", end, err)
	}
}

// offerFirstSignaler holds the offer in Send for a while, which is when gathering produces the
// first candidates: a candidate sent before the offer's Send returned could overtake it on the
// way to the host (a rendezvous client queues each Send on its own).
type offerFirstSignaler struct {
	mu        sync.Mutex
	sent      []signaling.Type
	overtook  bool
	candidate chan struct{} // closed at the first candidate
	once      sync.Once
	recv      chan *signaling.Message
}

func (s *offerFirstSignaler) Send(ctx context.Context, m *signaling.Message) error {
	s.mu.Lock()
	s.sent = append(s.sent, m.Type)
	s.mu.Unlock()
	if m.Type == signaling.TypeCandidate {
		s.once.Do(func() { close(s.candidate) })
	}
	if m.Type == signaling.TypeOffer {
		select {
		case <-s.candidate:
			s.mu.Lock()
			s.overtook = true
			s.mu.Unlock()
		case <-time.After(500 * time.Millisecond): // a loopback candidate is gathered in a few ms
		case <-ctx.Done():
		}
	}
	return nil
}

func (s *offerFirstSignaler) Recv() <-chan *signaling.Message { return s.recv }

// TestCandidatesFollowOffer checks that a viewer trickles its candidates only after its offer
// is sent, so that they cannot reach the host first.
func TestCandidatesFollowOffer(t *testing.T) {
	sig := &offerFirstSignaler{candidate: make(chan struct{}), recv: make(chan *signaling.Message)}
	hostKey := newKey(t)
	hostID := identity.HostID(hostKey.Public().(ed25519.PublicKey))
	_, err := Dial(context.Background(), sig, hostID, Config{LoopbackOnly: true, HandshakeTimeout: time.Second}, auth.ViewerConfig{Key: newKey(t)})
	if !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("Dial with no host: %v, want a set-up timeout", err)
	}
	sig.mu.Lock()
	defer sig.mu.Unlock()
	if sig.overtook {
		t.Fatal("a candidate was sent while the offer was still being sent")
	}
	if len(sig.sent) < 2 || sig.sent[0] != signaling.TypeOffer {
		t.Fatalf("sent %v, want the offer first and then candidates", sig.sent)
	}
}
