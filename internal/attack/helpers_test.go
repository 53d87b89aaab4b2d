package attack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"
	"github.com/deskport/deskport/tempfork/webrtc"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Channel IDs of session.go: negotiated, fixed.
const (
	authID        uint16 = 0
	tunnelID      uint16 = 2
	interactiveID uint16 = 4
)

var sessionChannels = []uint16{authID, tunnelID, interactiveID}

// chanSignaler is one end of an in-memory signaling pair (a session.Signaler).
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

var _ session.Signaler = chanSignaler{}

type keyPair struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	id   string
}

func newKey(t testing.TB) keyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{priv: priv, pub: pub, id: identity.HostID(pub)}
}

// target is a real loopback TCP listener that records every connection and byte it gets.
type target struct {
	ln    net.Listener
	conns atomic.Int64
	bytes atomic.Int64
	hold  bool // keep connections open until Close instead of echoing
	mu    sync.Mutex
	open  []net.Conn
	wg    sync.WaitGroup
}

// newTarget listens on loopback. An echo target copies back what it reads; a holding target
// just keeps each connection open (as a slow service would).
func newTarget(t testing.TB, hold bool) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, hold: hold}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.conns.Add(1)
			tg.mu.Lock()
			tg.open = append(tg.open, c)
			tg.mu.Unlock()
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					tg.bytes.Add(int64(n))
					if n > 0 && !tg.hold {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) Addr() string { return tg.ln.Addr().String() }

func (tg *target) Close() {
	tg.ln.Close()
	tg.mu.Lock()
	for _, c := range tg.open {
		c.Close()
	}
	tg.mu.Unlock()
	tg.wg.Wait()
}

// rawPeer is an attacker's own pion peer connection: the same negotiated channels as
// session.go (auth 0, tunnel 2, interactive 4), detached, loopback only, speaking the
// session.Signaler protocol with a real end.
type rawPeer struct {
	pc   *webrtc.PeerConnection
	sig  session.Signaler
	open map[uint16]chan datachannel.ReadWriteCloserDeadliner
	// dcs are the negotiated channels, for their BufferedAmount.
	dcs map[uint16]*webrtc.DataChannel

	descs chan *signaling.Message

	candMu    sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	extra []chan datachannel.ReadWriteCloserDeadliner

	answerSDP string

	track  *webrtc.TrackLocalStaticSample
	sender *webrtc.RTPSender

	// Tracks receives remote media tracks (only with rawOptions.media).
	Tracks chan *webrtc.TrackRemote
}

type rawOptions struct {

	// extra creates in-band (announced) data channels with these labels.
	extra []string
	// media registers the default codecs and adds a VP8 video track before the offer.
	media bool
}

func newRawPeer(t testing.TB, sig session.Signaler, opts rawOptions) *rawPeer {
	t.Helper()
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if opts.media {
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{pc: pc, sig: sig, open: map[uint16]chan datachannel.ReadWriteCloserDeadliner{},
		descs: make(chan *signaling.Message, 4), done: make(chan struct{}), Tracks: make(chan *webrtc.TrackRemote, 4),
		dcs: map[uint16]*webrtc.DataChannel{}}
	negotiated := true
	for _, id := range sessionChannels {
		id := id
		ch := make(chan datachannel.ReadWriteCloserDeadliner, 1)
		p.open[id] = ch
		dc, err := pc.CreateDataChannel(fmt.Sprintf("ch%d", id), &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
		if err != nil {
			t.Fatal(err)
		}
		p.dcs[id] = dc
		p.onOpen(dc, ch)
	}
	for _, label := range opts.extra {
		ch := make(chan datachannel.ReadWriteCloserDeadliner, 1)
		dc, err := pc.CreateDataChannel(label, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.onOpen(dc, ch)
		p.extra = append(p.extra, ch)
	}
	if opts.media {
		track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "evil", "evil")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			t.Fatal(err)
		}
		p.track, p.sender = track, sender
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case p.Tracks <- tr:
		default:
		}
	})
	cands := make(chan *webrtc.ICECandidate, 64)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		select {
		case cands <- c:
		case <-p.done:
		}
	})
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case c := <-cands:
				m := &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{}}
				if c != nil {
					init := c.ToJSON()
					m.Candidate = &signaling.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = p.sig.Send(ctx, m)
				cancel()
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case m, ok := <-sig.Recv():
				if !ok {
					return
				}
				switch m.Type {
				case signaling.TypeOffer, signaling.TypeAnswer:
					select {
					case p.descs <- m:
					default:
					}
				case signaling.TypeCandidate:
					if m.Candidate == nil || m.Candidate.Candidate == "" {
						continue
					}
					p.addCandidate(webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment})
				}
			}
		}
	}()
	return p
}

func (p *rawPeer) onOpen(dc *webrtc.DataChannel, ch chan datachannel.ReadWriteCloserDeadliner) {
	dc.OnOpen(func() {
		rwc, err := dc.DetachWithDeadline()
		if err != nil {
			return
		}
		ch <- rwc
	})
}

func (p *rawPeer) addCandidate(c webrtc.ICECandidateInit) {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if !p.remoteSet {
		p.pending = append(p.pending, c)
		return
	}
	_ = p.pc.AddICECandidate(c)
}

func (p *rawPeer) setRemote(d webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	p.candMu.Lock()
	defer p.candMu.Unlock()
	p.remoteSet = true
	for _, c := range p.pending {
		_ = p.pc.AddICECandidate(c)
	}
	p.pending = nil
	return nil
}

func (p *rawPeer) waitDesc(ctx context.Context, typ signaling.Type) (*signaling.Message, error) {
	select {
	case m := <-p.descs:
		if m.Type != typ {
			return nil, fmt.Errorf("got %s, want %s", m.Type, typ)
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for %s: %w", typ, ctx.Err())
	}
}

// answer waits for the real end's offer and answers it (the attacker plays the host).
func (p *rawPeer) answer(ctx context.Context) (offerSDP string, err error) {
	m, err := p.waitDesc(ctx, signaling.TypeOffer)
	if err != nil {
		return "", err
	}
	if err := p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return "", err
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	if err := p.pc.SetLocalDescription(a); err != nil {
		return "", err
	}
	return m.SDP, p.sig.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: a.SDP})
}

// offer makes an offer to the real end and applies its answer (the attacker plays the viewer).
func (p *rawPeer) offer(ctx context.Context) (answerSDP string, err error) {
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		return "", err
	}
	if err := p.sig.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: o.SDP}); err != nil {
		return "", err
	}
	m, err := p.waitDesc(ctx, signaling.TypeAnswer)
	if err != nil {
		return "", err
	}
	p.answerSDP = m.SDP
	return m.SDP, p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
}

// channel waits for the negotiated channel id to open.
func (p *rawPeer) channel(ctx context.Context, id uint16) (datachannel.ReadWriteCloserDeadliner, error) {
	select {
	case c := <-p.open[id]:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("channel %d did not open: %w", id, ctx.Err())
	}
}

// binding returns SHA-256 of this peer's and the remote's actual DTLS certificates, the way
// session.go computes them.
func (p *rawPeer) binding() (local, remote [32]byte, err error) {
	dtls := p.pc.SCTP().Transport()
	params, err := dtls.GetLocalParameters()
	if err != nil {
		return local, remote, err
	}
	for _, fp := range params.Fingerprints {
		if strings.EqualFold(fp.Algorithm, "sha-256") {
			b, _ := hex.DecodeString(strings.ReplaceAll(fp.Value, ":", ""))
			copy(local[:], b)
		}
	}
	cert := dtls.GetRemoteCertificate()
	if len(cert) == 0 {
		return local, remote, errors.New("no remote certificate")
	}
	return local, sha256.Sum256(cert), nil
}

func (p *rawPeer) Close() {
	p.closeOnce.Do(func() {
		close(p.done)
		_ = p.pc.Close()
		p.wg.Wait()
		// Channels that opened but nobody took: close them too.
		for _, ch := range p.open {
			select {
			case c := <-ch:
				c.Close()
			default:
			}
		}
	})
}

// readMsg reads one whole message from a detached channel.
func readMsg(rwc io.Reader) ([]byte, error) {
	buf := make([]byte, 64<<10)
	n, err := rwc.Read(buf)
	return buf[:n], err
}
