package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/tempfork/webrtc"
)

func TestRestartProof(t *testing.T) {
	k, err := newRestartKey()
	if err != nil {
		t.Fatal(err)
	}
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
	signed := k.sign("offer", 7, sdp)
	p, ok := parseRestart(signed)
	if !ok {
		t.Fatalf("cannot parse a signed description:\n%s", signed)
	}
	if p.seq != 7 || p.rest != sdp || !k.verify("offer", p) {
		t.Fatalf("round trip: seq %d, rest equal %v, verifies %v", p.seq, p.rest == sdp, k.verify("offer", p))
	}
	if k.verify("answer", p) {
		t.Error("an offer's proof verifies as an answer's")
	}
	other, _ := newRestartKey()
	if other.verify("offer", p) {
		t.Error("a proof verifies under another key")
	}
	tampered, _ := parseRestart(strings.Replace(signed, "ice-ufrag:abcd", "ice-ufrag:abce", 1))
	if k.verify("offer", tampered) {
		t.Error("a changed description still verifies")
	}
	line := signed[strings.Index(signed, "a="+sdpRestart):]
	line = line[:strings.Index(line, "\r\n")+2]
	for name, bad := range map[string]string{
		"none":        sdp,
		"twice":       strings.Replace(signed, line, line+line, 1),
		"seq zero":    strings.Replace(signed, " 7 ", " 0 ", 1),
		"no newline":  strings.TrimSuffix(sdp, "\r\n") + "\r\n" + strings.TrimSuffix(line, "\r\n"),
		"short id":    strings.Replace(signed, k.idString(), k.idString()[2:], 1),
		"upper id":    strings.Replace(signed, k.idString(), strings.ToUpper(k.idString()), 1),
		"short mac":   strings.Replace(signed, line, line[:len(line)-6]+"\r\n", 1),
		"extra field": strings.Replace(signed, " 7 ", " 7 8 ", 1),
	} {
		if p, ok := parseRestart(bad); ok && k.verify("offer", p) {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := parseRestartKey(k.marshal()); !ok {
		t.Error("restart key does not round-trip")
	}
	if _, ok := parseRestartKey(k.marshal()[1:]); ok {
		t.Error("a truncated restart key parses")
	}
}

func FuzzParseRestartKey(f *testing.F) {
	k := &restartKey{}
	f.Add(k.marshal())
	f.Add([]byte(restartKeyMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ok := parseRestartKey(b)
		if ok && !bytes.Equal(k.marshal(), b) {
			t.Fatalf("parsed %x from %x", k.marshal(), b)
		}
	})
}

func FuzzParseRestart(f *testing.F) {
	k := &restartKey{}
	f.Add(k.sign("offer", 1, "v=0\r\nm=application 9\r\n"))
	f.Add("a=" + sdpRestart + ":00 1 x\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		p, ok := parseRestart(sdp)
		if !ok {
			return
		}
		if p.seq == 0 || len(p.mac) != sha256.Size || len(p.id) != 2*restartIDBytes || len(p.rest) >= len(sdp) {
			t.Fatalf("parsed %+v from %q", p, sdp)
		}
	})
}

// recordingSignaler keeps what one end sends.
type recordingSignaler struct {
	chanSignaler
	mu   sync.Mutex
	sent []*signaling.Message
}

func (s *recordingSignaler) Send(ctx context.Context, m *signaling.Message) error {
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.mu.Unlock()
	return s.chanSignaler.Send(ctx, m)
}

func (s *recordingSignaler) offer() *signaling.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.sent {
		if m.Type == signaling.TypeOffer {
			return m
		}
	}
	return nil
}

// restartLab is a viewer and a host on loopback whose viewer can restart ICE: every restart
// opens a new signaling pair, whose host end goes to a fresh Accept with the host's Restarts,
// as the rendezvous and the host agent do.
type restartLab struct {
	viewer       *ViewerConn
	host         *HostConn
	hostID       string
	toHost       chan<- *signaling.Message // the set-up's signaling, towards the host
	hostWarnings warnings
	hostCfg      Config
	hostAuth     auth.HostConfig
	mu           sync.Mutex
	sigs         []*recordingSignaler
	accepts      chan error
	restarted    chan RestartInfo
	wg           sync.WaitGroup
}

func newRestartLab(t *testing.T) *restartLab {
	t.Helper()
	return newRestartLabWith(t, nil, nil)
}

// newRestartLabWith is newRestartLab with a video track when video is not nil, and with the
// direct TCP lane when onHost is not nil (it serves the host's channels, serveLaneHost).
func newRestartLabWith(t *testing.T, video *VideoConfig, onHost func(*HostConn)) *restartLab {
	t.Helper()
	hostKey, viewerKey := newKey(t), newKey(t)
	l := &restartLab{hostID: identity.HostID(hostKey.Public().(ed25519.PublicKey)), accepts: make(chan error, 16), restarted: make(chan RestartInfo, 16)}
	l.hostWarnings = make(warnings, 64)
	l.hostCfg = Config{LoopbackOnly: true, Restarts: NewRestarts(), Logger: slog.New(l.hostWarnings), Video: video}
	l.hostAuth = auth.HostConfig{Key: hostKey, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, viewerKey.Public().(ed25519.PublicKey))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vs, hs := signalPair()
	l.toHost = vs.out
	var herr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.host, herr = Accept(ctx, hs, l.hostID, l.hostCfg, l.hostAuth)
		if herr == nil && onHost != nil {
			onHost(l.host)
		}
	}()
	vcfg := Config{LoopbackOnly: true, NoDirectTCP: onHost == nil, Resignal: l.resignal, OnRestart: func(r RestartInfo) { l.restarted <- r }, Video: video}
	var verr error
	l.viewer, verr = Dial(ctx, vs, l.hostID, vcfg, auth.ViewerConfig{Key: viewerKey})
	<-done
	t.Cleanup(func() {
		if l.viewer != nil {
			l.viewer.Close()
		}
		if l.host != nil {
			l.host.Close()
		}
		l.wg.Wait()
	})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if l.viewer.rkey == nil {
		t.Fatal("the viewer sent no restart key")
	}
	// The host registers the key when it arrives on the auth channel.
	timeout := time.After(10 * time.Second)
	for {
		c, added := l.hostCfg.Restarts.find(l.viewer.rkey.idString())
		if c != nil {
			break
		}
		select {
		case <-added:
		case <-timeout:
			t.Fatal("the host never registered the viewer's restart key")
		}
	}
	return l
}

// accept runs a host Accept on a new signaling session, as the host agent does for each
// rendezvous session, and returns the viewer's end.
func (l *restartLab) accept() *recordingSignaler {
	vs, hs := signalPair()
	rec := &recordingSignaler{chanSignaler: vs}
	l.mu.Lock()
	l.sigs = append(l.sigs, rec)
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := Accept(ctx, hs, l.hostID, l.hostCfg, l.hostAuth)
		if c != nil {
			c.Close()
			err = errors.New("a restart offer opened a new session")
		}
		l.accepts <- err
	}()
	return rec
}

func (l *restartLab) resignal(context.Context) (Signaler, error) { return l.accept(), nil }

// TestICERestartMidTransfer restarts ICE twice while a forward moves 16 MiB: the transfer
// finishes byte-exact over the new candidate pairs, and the host answers each restart. Before
// the second, both ends are made to see the new path as one whose packet size they cannot
// tell (as behind a NAT): the SCTP packet size drops from loopback's 8124 to 1191 mid-transfer.
func TestICERestartMidTransfer(t *testing.T) {
	l := newRestartLab(t)
	data := payload(16 << 20)
	target := servePayload(t, data)
	policy, err := forward.NewPolicy([]string{target.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, l.host.Mux) }()
	defer func() { cancel(); l.host.Close(); <-srvDone }()
	c, err := forward.NewClient(l.viewer.Mux, nil).Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := sha256.New()
	var got int64
	before := l.viewer.CandidateType()
	if v, h := l.viewer.SCTPPacketSize(), l.host.SCTPPacketSize(); v != 8124 || h != 8124 {
		t.Fatalf("packet sizes before the restarts: viewer %d, host %d; want 8124 on loopback", v, h)
	}
	for i, at := range []int64{2 << 20, 6 << 20} {
		if i == 1 {
			noLinks := func() ([]link, error) { return nil, nil }
			l.viewer.mtu.links, l.host.mtu.links = noLinks, noLinks
		}
		n, err := io.CopyN(h, c, at-got)
		got += n
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		err = l.viewer.restartICE(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
			t.Fatalf("restart %d: host Accept returned %v, want ErrRestarted", i+1, err)
		}
	}
	n, err := io.Copy(h, c)
	got += n
	if err != nil {
		t.Fatalf("after %d bytes: %v", got, err)
	}
	want := sha256.Sum256(data)
	if got != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d bytes with a different SHA-256, want %d byte-exact", got, len(data))
	}
	if v, h := l.viewer.SCTPPacketSize(), l.host.SCTPPacketSize(); v != defaultSCTPMTU || h != defaultSCTPMTU {
		t.Errorf("packet sizes after the second restart: viewer %d, host %d; want %d", v, h, defaultSCTPMTU)
	}
	// On a loaded machine ICE may also report the path disconnected (3 s without a check
	// answered) while a restart runs, and the viewer's own watcher then restarts once more, as
	// it should: each such restart went through OnRestart.
	l.viewer.restartMu.Lock()
	vseq := l.viewer.restartSeq
	l.viewer.restartMu.Unlock()
	l.host.restartMu.Lock()
	hseq := l.host.restartSeq
	l.host.restartMu.Unlock()
	// OnRestart runs just after the restart lets go of restartMu.
	deadline := time.Now().Add(5 * time.Second)
	for uint64(len(l.restarted))+2 < vseq && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	auto := uint64(len(l.restarted))
	if vseq != 2+auto || hseq != 2+auto {
		t.Errorf("restart sequence: viewer %d, host %d; want 2 and %d automatic", vseq, hseq, auto)
	}
	t.Logf("path before %s, after %s; %d automatic restarts", before, l.viewer.CandidateType(), auto)
}

// TestICERestartRequestsKeyframe: once a restart has succeeded the host's screen stream is
// asked for a keyframe, as by a viewer's PLI, because the frames written just before it on the
// dead path are lost and the viewer cannot tell (docs/session.md, "Moving networks").
func TestICERestartRequestsKeyframe(t *testing.T) {
	l := newRestartLabWith(t, &VideoConfig{}, nil)
	if l.host.Video == nil || l.host.Keyframes == nil {
		t.Fatal("the host has no video track")
	}
	for i := 0; i < 2; i++ {
		select {
		case <-l.host.Keyframes: // a request from before this restart
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := l.viewer.restartICE(ctx)
		cancel()
		if err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
			t.Fatalf("restart %d: host Accept returned %v, want ErrRestarted", i+1, err)
		}
		// The host queues the request before its Accept returns.
		select {
		case <-l.host.Keyframes:
		default:
			t.Fatalf("restart %d: the host's screen stream was not asked for a keyframe", i+1)
		}
	}
}

// TestICERestartRefusals: a restart offer that was changed in transit, one replayed, and one
// naming no session are refused, and the session goes on.
func TestICERestartRefusals(t *testing.T) {
	l := newRestartLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.viewer.restartICE(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
		t.Fatalf("host Accept returned %v, want ErrRestarted", err)
	}
	l.mu.Lock()
	valid := l.sigs[0].offer()
	l.mu.Unlock()
	send := func(sdp string) error {
		rec := l.accept()
		if err := rec.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: sdp}); err != nil {
			t.Fatal(err)
		}
		return <-l.accepts
	}
	p, _ := parseRestart(valid.SDP)
	unknown := (&restartKey{}).sign("offer", 1, p.rest)
	for name, sdp := range map[string]string{
		"replayed":        valid.SDP,
		"changed":         strings.Replace(valid.SDP, "a=ice-pwd:", "a=ice-pwd:x", 1),
		"unknown session": unknown,
	} {
		if err := send(sdp); !errors.Is(err, ErrBadRestart) {
			t.Errorf("%s: host Accept returned %v, want ErrBadRestart", name, err)
		}
	}
	// A restart offer with a valid proof, but late on the set-up's own signaling: a restart
	// comes only as the first offer of a session of its own, so this is ignored.
	next := l.viewer.rkey.sign("offer", 2, p.rest)
	l.toHost <- &signaling.Message{Type: signaling.TypeOffer, SDP: next}
	l.hostWarnings.await(t, "host", 1, "ignored a session description")
	if n := l.host.IgnoredDescriptions(); n != 1 {
		t.Errorf("the host ignored %d descriptions, want 1", n)
	}
	if l.host.restartSeq != 1 {
		t.Errorf("host restart sequence %d after refusals, want 1", l.host.restartSeq)
	}
	forwardThrough(t, l.viewer, l.host, payload(1<<20))
}

// serversSignaler is a Signaler whose rendezvous session handed out servers, as
// rendezvous.Session's does.
type serversSignaler struct {
	chanSignaler
	servers []signaling.ICEServer
}

func (s serversSignaler) ICEServers() []signaling.ICEServer { return s.servers }

// TestRestartTakesFreshICEServers: a restart's rendezvous session hands out new TURN
// credentials, and the peer connection gathers with them from then on: the set-up session's
// servers are replaced, servers given by the user (--ice-server) stay, and a signaler that
// knows no servers changes nothing.
func TestRestartTakesFreshICEServers(t *testing.T) {
	setup := []signaling.ICEServer{{URLs: []string{"turn:192.0.2.1:3478?transport=udp"}, Username: "1700000000:setup", Credential: "old"}}
	user := webrtc.ICEServer{URLs: []string{"stun:192.0.2.9:3478"}}
	a, _ := signalPair()
	cfg := Config{ICEServers: append(ICEServers(setup), user)}
	c, err := newConn(&cfg, serversSignaler{chanSignaler: a, servers: setup}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	fresh := []signaling.ICEServer{{URLs: []string{"turn:192.0.2.1:3478?transport=udp"}, Username: "1700000600:restart", Credential: "new"}}
	c.refreshICEServers(serversSignaler{chanSignaler: a, servers: fresh})
	want := append(ICEServers(fresh), user)
	if got := c.pc.GetConfiguration().ICEServers; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the restart's session: %+v, want %+v", got, want)
	}
	c.refreshICEServers(a) // a signaler without servers: nothing changes
	if got := c.pc.GetConfiguration().ICEServers; !reflect.DeepEqual(got, want) {
		t.Fatalf("after a signaler without servers: %+v, want %+v", got, want)
	}
}
