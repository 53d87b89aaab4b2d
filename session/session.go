package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"
	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/deskport/deskport/tempfork/yamux"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/transport/v5"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/signaling"
)

// The data channels are negotiated out of band with fixed IDs, so both ends create them and
// neither has to accept a channel the other announces. The host closes any channel a viewer
// announces in-band.
//
// Interactive traffic (input, control, clipboard) has its own channel and its own yamux session,
// so a bulk transfer on the tunnel never queues a key press behind it in one ordered stream.
const (
	authChannelID        uint16 = 0
	tunnelChannelID      uint16 = 2
	interactiveChannelID uint16 = 4
)

// Conn is what both ends of an authenticated session share: the two yamux sessions, the
// connection's path and lifetime. Accept returns the host's side of it (HostConn), Dial the
// viewer's (ViewerConn); each adds only what that role has. The host is the yamux server of
// both channels, the viewer their client.
type Conn struct {
	// Mux is the yamux session over the tunnel channel: forwards and files.
	Mux *yamux.Session
	// Interactive is the yamux session over the interactive channel: input, the desktop
	// control stream, the clipboard.
	Interactive *yamux.Session

	pc     *webrtc.PeerConnection
	mtu    *pathMTU
	endErr atomic.Pointer[error] // why it ended on its own (Err)
	lane   laneState
	pace   *pacer

	// Set during set-up and handed to the role type Accept or Dial returns.
	peer      *auth.Peer                     // host: who the viewer proved to be
	result    *auth.Result                   // viewer: what the host proved and granted
	track     *webrtc.TrackLocalStaticSample // host: the screen track, when asked for
	keyframes chan struct{}                  // host: keyframe requests for track (the viewer's, a restart's)
	estimator cc.BandwidthEstimator          // host with video: the bitrate estimate

	log    *slog.Logger
	auth   *channelConn
	tunnel *channelConn

	authOpen, tunnelOpen chan *channelConn
	interactiveOpen      chan *channelConn
	interactive          *channelConn
	video                *VideoConfig
	tracks               chan *webrtc.TrackRemote
	connected            chan struct{}
	ready                chan struct{} // closed when Dial or Accept has succeeded
	failed               chan error
	candMu               sync.Mutex
	pendingCands         []webrtc.ICECandidateInit
	remoteSet            bool
	lateDescs            atomic.Int64               // descriptions after the first, ignored
	windowAddr           atomic.Pointer[netip.Addr] // set once authenticated: where to remember the window

	// sigMu guards cur, the signaling that candidates go out on (restart.go).
	sigMu sync.Mutex
	cur   *sigRoute

	// ICE restarts (restart.go). restartMu serialises them and guards rkey and restartSeq.
	restartMu  sync.Mutex
	rkey       *restartKey
	restartSeq uint64
	restarts   *Restarts // host: where this session is registered, once it is
	resignal   func(context.Context) (Signaler, error)
	// rvICE are the ICE servers the current rendezvous session handed out (restartMu): a
	// restart replaces them with its own session's (refreshICEServers).
	rvICE []webrtc.ICEServer
	// localAddrs lists this machine's addresses, to notice the path's own going away; nil on
	// a simulated network.
	localAddrs func() ([]net.Addr, error)
	// mobile is set on a viewer that restarts ICE itself: a failed ICE state then starts a
	// restart instead of ending the session.
	mobile atomic.Bool

	// The ICE connection state, for restarts to wait on.
	iceMu       sync.Mutex
	iceState    webrtc.ICEConnectionState
	iceSeq      uint64 // state changes so far
	iceChecking uint64 // iceSeq of the last change to checking
	iceWake     chan struct{}
	iceEvents   chan struct{}

	// lifeMu guards closing, which stops new goroutines once Close waits for them.
	lifeMu  sync.Mutex
	closing bool
	// loopback says whether loopback candidates may be used (Config.LoopbackOnly): otherwise
	// the peer's are ignored, as ours are never gathered.
	loopback bool
	// ownNet says whether the session uses the process's own network stack (Config.Net nil):
	// only then can the direct TCP lane, which uses package net, reach the peer.
	ownNet bool
	// laneOK (viewer): the direct TCP lane may be offered (not NoDirectTCP, not RelayOnly); an
	// ICE restart offers it again on the new path.
	laneOK bool
	// relaned, when set (tests), is called when relane has finished.
	relaned func()
	// tried records what ICE gathered and received, to say why set-up failed.
	tried *iceAttempt

	wg        sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{}
	closeErr  error
}

func newConn(cfg *Config, sig Signaler, log *slog.Logger) (*Conn, error) {
	mtu := &pathMTU{log: log, links: cfg.links()}
	if mtu.links != nil {
		mtu.udp = newUDPProbes()
	}
	pace := newPacer()
	api, estimators, err := cfg.newAPI(mtu, pace)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	pcfg := webrtc.Configuration{ICEServers: cfg.ICEServers}
	if cfg.RelayOnly {
		if !hasTURN(cfg.ICEServers) {
			return nil, ErrNoRelay
		}
		pcfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(pcfg)
	if err != nil {
		return nil, fmt.Errorf("session: new peer connection: %w", err)
	}
	c := &Conn{
		pc: pc, log: log, mtu: mtu, pace: pace,
		cur:             newSigRoute(sig),
		resignal:        cfg.Resignal,
		localAddrs:      localAddrs(cfg.Net),
		iceWake:         make(chan struct{}),
		iceEvents:       make(chan struct{}, 1),
		authOpen:        make(chan *channelConn, 1),
		tunnelOpen:      make(chan *channelConn, 1),
		interactiveOpen: make(chan *channelConn, 1),
		connected:       make(chan struct{}),
		ready:           make(chan struct{}),
		failed:          make(chan error, 1),
		done:            make(chan struct{}),
		video:           cfg.Video,
		loopback:        cfg.LoopbackOnly,
		ownNet:          cfg.Net == nil,
		tried:           newICEAttempt(cfg.ICEServers),
	}
	if src, ok := sig.(iceServerSource); ok {
		c.rvICE = ICEServers(src.ICEServers())
	}
	select {
	case c.estimator = <-estimators: // the interceptor is built with the peer connection
	default:
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if c.tracks != nil {
			select {
			case c.tracks <- t:
			default:
			}
		}
	})
	negotiated := true
	// Each end sets the priority of what it sends (the channels are negotiated: no open message
	// carries it): the interactive channel's messages leave the SCTP send queue before the
	// tunnel's (docs/session.md, Flow control).
	for _, ch := range []struct {
		label    string
		id       uint16
		priority uint16
		open     chan *channelConn
	}{
		{"auth", authChannelID, datachannel.ChannelPriorityNormal, c.authOpen},
		{"tunnel", tunnelChannelID, datachannel.ChannelPriorityNormal, c.tunnelOpen},
		{"interactive", interactiveChannelID, datachannel.ChannelPriorityHigh, c.interactiveOpen},
	} {
		id, priority := ch.id, ch.priority
		dc, err := pc.CreateDataChannel(ch.label, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id, Priority: &priority})
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("session: create %s channel: %w", ch.label, err)
		}
		open, label := ch.open, ch.label
		dc.OnOpen(func() {
			// pion wants the detach inside OnOpen; it does not block.
			cc, err := newChannelConn(dc, c.srtt)
			if err != nil {
				c.fail(fmt.Errorf("session: detach %s channel: %w", label, err))
				return
			}
			open <- cc
		})
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		// Only the negotiated channels exist; anything announced in-band is closed unread.
		log.Warn("closing a data channel the peer announced", "label", dc.Label())
		go dc.Close()
	})
	var connectedOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("peer connection state", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			connectedOnce.Do(func() { close(c.connected) })
		case webrtc.PeerConnectionStateFailed:
			if c.mobile.Load() {
				return // the viewer restarts ICE (restart.go)
			}
			c.fail(ErrConnectionFailed)
		case webrtc.PeerConnectionStateClosed:
			c.fail(ErrPeerLeft)
		}
	})
	pc.OnICEConnectionStateChange(c.iceChanged)
	cands := make(chan *webrtc.ICECandidate, 64)
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		select {
		case cands <- cand:
		case <-c.done:
		}
	})
	c.wg.Add(3)
	go c.sendCandidates(cands)
	go c.watch()
	go func() {
		defer c.wg.Done()
		pace.follow(c.done, pc)
	}()
	return c, nil
}

func localAddrs(n transport.Net) func() ([]net.Addr, error) {
	if n != nil {
		return nil
	}
	return net.InterfaceAddrs
}

// srtt is the SCTP association's smoothed round-trip time (zero before the first measurement).
func (c *Conn) srtt() time.Duration {
	return time.Duration(c.pc.SCTP().Stats().SmoothedRoundTripTime * float64(time.Second))
}

// fail records the first reason set-up or the connection ended, without blocking a pion callback.
func (c *Conn) fail(err error) {
	select {
	case c.failed <- err:
	default:
	}
}

func (c *Conn) sendCandidates(cands <-chan *webrtc.ICECandidate) {
	defer c.wg.Done()
	for {
		var cand *webrtc.ICECandidate
		select {
		case <-c.done:
			return
		case cand = <-cands:
		}
		// A candidate goes out on the current signaling once this end's description is on its
		// way there; one gathered for a signaling that a restart replaced first is stale.
		st := c.current()
		select {
		case <-c.done:
			return
		case <-st.replaced:
			continue
		case <-st.sent:
		}
		m := &signaling.Message{Type: signaling.TypeCandidate, Candidate: toSignalCandidate(nil)}
		if cand != nil {
			c.tried.addLocal(cand.Typ, cand.Protocol)
			if redundant(cand) {
				continue
			}
			init := cand.ToJSON()
			m.Candidate = toSignalCandidate(&init)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := st.sig.Send(ctx, m); err != nil {
			c.log.Debug("sending ICE candidate", "err", err)
		}
		cancel()
	}
}

// redundant says a candidate need not be sent (RFC 8445 5.1.3): a server-reflexive candidate
// whose address is its own base, the host candidate it was learnt from (a machine with a public
// address, or a STUN server on the same network namespace, loopback included). Sent, it gives the
// peer a second pair to the same address, and when that pair's checks win the path is reported
// as srflx — read as "behind a NAT": 1191-byte SCTP packets instead of the link's, and no direct
// TCP lane.
func redundant(cand *webrtc.ICECandidate) bool {
	return cand.Typ == webrtc.ICECandidateTypeSrflx && cand.Address == cand.RelatedAddress && cand.Port == cand.RelatedPort
}

// kind is a candidate's type as the path's nature: a server-reflexive candidate whose address
// is its own base is a host address. Not sending it (redundant) is not enough: pion gathers it on
// a socket of its own and still checks from it, and when such a pair wins the race with the
// host candidate's (seen in CI: the host's end read srflx/host on loopback) the path is direct
// all the same — no NAT translated it — and deserves the link's packets and the direct TCP lane.
func kind(c webrtc.ICECandidate) webrtc.ICECandidateType {
	if redundant(&c) {
		return webrtc.ICECandidateTypeHost
	}
	return c.Typ
}

// direct reports whether a selected pair joins two addresses no NAT or relay stands between:
// this end's own address (kind host) and the peer's, either a host candidate or a
// peer-reflexive one (the address its checks came from, learnt before or instead of its
// candidate).
func direct(local, remote webrtc.ICECandidate) bool {
	r := kind(remote)
	return kind(local) == webrtc.ICECandidateTypeHost && (r == webrtc.ICECandidateTypeHost || r == webrtc.ICECandidateTypePrflx)
}

// watch closes the connection when ICE fails after set-up.
// It starts watching only once set-up has finished: until then the set-up code handles failures
// itself and owns the Conn's fields.
func (c *Conn) watch() {
	defer c.wg.Done()
	select {
	case <-c.done:
	case <-c.ready:
		select {
		case <-c.done:
		case err := <-c.failed:
			c.log.Info("connection ended", "reason", err)
			c.endErr.Store(&err)
			go c.Close()
		}
	}
}

// receive applies the peer's signals on sig until signaling ends or the connection closes; the
// first offer or answer is handed to the set-up or restart code on descs (buffered, one slot),
// unless described says it was taken already. ended, if not nil, is closed on return.
//
// Any later description is ignored and reported: deskport peers renegotiate only to restart ICE,
// and a restart comes on a signaling session of its own with a proof (restart.go); only a
// hostile (or broken) rendezvous sends another, and applying it could swap the transport under
// an authenticated session.
func (c *Conn) receive(sig Signaler, descs chan<- *signaling.Message, described bool, ended chan struct{}) {
	if ended != nil {
		defer close(ended)
	}
	for {
		select {
		case <-c.done:
			return
		case s, ok := <-sig.Recv():
			if !ok {
				return
			}
			switch s.Type {
			case signaling.TypeOffer, signaling.TypeAnswer:
				if described {
					c.lateDescs.Add(1)
					c.log.Warn("ignored a session description after the first: deskport peers renegotiate only to restart ICE, with a proof on a signaling session of its own, so only a hostile rendezvous sends one", "type", string(s.Type))
					continue
				}
				described = true
				descs <- s
			case signaling.TypeCandidate:
				if s.Candidate == nil || s.Candidate.Candidate == "" {
					continue
				}
				c.addCandidate(fromSignalCandidate(s.Candidate))
			case signaling.TypeBye, signaling.TypeError:
				select {
				case <-c.connected:
					if descs != nil && !described && s.Type == signaling.TypeBye && s.Code == "" && s.Reason == unknownSessionReason {
						// A restart's host that knows no such session says so instead of
						// answering (restart.go); the restart ends the session.
						described = true
						descs <- s
						continue
					}
					// Signaling may end once the peers are connected; the session goes on. A
					// reason from the other end (a host shutting down) is worth showing.
					if s.Type == signaling.TypeBye && s.Code == "" && s.Reason != "" && s.Reason != "closed" {
						c.log.Warn("the peer says: " + s.Reason)
					}
				default:
					reason := s.Reason
					if s.Type == signaling.TypeError {
						reason = s.Message
					}
					if reason == "" {
						reason = "no reason given"
					}
					if s.Type == signaling.TypeBye && reason == busyReason {
						c.fail(hostBusyError{})
						continue
					}
					c.fail(fmt.Errorf("%w: %s", ErrPeerLeft, reason))
				}
			}
		}
	}
}

func (c *Conn) addCandidate(cand webrtc.ICECandidateInit) {
	typ, proto, ip, ok := parseCandidate(cand.Candidate)
	if ok && ip.IsLoopback() && !c.loopback {
		// A peer on another machine cannot be reached at our loopback address, and one on this
		// machine also offers its other addresses; checks sent to loopback would only probe
		// this machine's own ports.
		c.log.Debug("ignoring a loopback ICE candidate", "candidate", cand.Candidate)
		return
	}
	if ok {
		c.tried.addRemote(typ, proto)
	}
	c.candMu.Lock()
	defer c.candMu.Unlock()
	if !c.remoteSet {
		c.pendingCands = append(c.pendingCands, cand)
		return
	}
	if err := c.pc.AddICECandidate(cand); err != nil {
		c.log.Debug("ignoring ICE candidate", "err", err)
	}
}

func (c *Conn) setRemote(desc webrtc.SessionDescription) error {
	c.mtu.peerMax.Store(advertisedDatagram(desc.SDP))
	c.mtu.peerLink.Store(advertisedLinkMTU(desc.SDP))
	c.tried.addRemoteSDP(desc.SDP)
	if err := c.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("%w: %v", ErrSignaling, err)
	}
	c.candMu.Lock()
	defer c.candMu.Unlock()
	c.remoteSet = true
	for _, cand := range c.pendingCands {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("ignoring ICE candidate", "err", err)
		}
	}
	c.pendingCands = nil
	return nil
}

// waitChannel waits for a negotiated channel to open.
func (c *Conn) waitChannel(ctx context.Context, open <-chan *channelConn) (*channelConn, error) {
	// A channel that is already open wins over a failure reported since: negotiated channels
	// open with the association, and the set-up should not depend on which event the
	// scheduler shows first.
	select {
	case cc := <-open:
		return cc, nil
	default:
	}
	select {
	case cc := <-open:
		return cc, nil
	case err := <-c.failed:
		return nil, err
	case <-ctx.Done():
		return nil, ErrHandshakeTimeout
	}
}

// binding returns the SHA-256 of this end's and the peer's actual DTLS certificates.
func (c *Conn) binding() (local, remote [32]byte, err error) {
	dtls := c.pc.SCTP().Transport()
	params, err := dtls.GetLocalParameters()
	if err != nil {
		return local, remote, fmt.Errorf("session: local DTLS parameters: %w", err)
	}
	found := false
	for _, fp := range params.Fingerprints {
		if strings.EqualFold(fp.Algorithm, "sha-256") {
			b, err := hex.DecodeString(strings.ReplaceAll(fp.Value, ":", ""))
			if err != nil || len(b) != 32 {
				return local, remote, fmt.Errorf("session: malformed local fingerprint %q", fp.Value)
			}
			copy(local[:], b)
			found = true
		}
	}
	if !found {
		return local, remote, errors.New("session: no SHA-256 fingerprint for the local certificate")
	}
	cert := dtls.GetRemoteCertificate()
	if len(cert) == 0 {
		return local, remote, errors.New("session: the peer presented no DTLS certificate")
	}
	return local, sha256.Sum256(cert), nil
}

// authenticate runs fn on the auth channel with a read deadline at the handshake deadline or
// timeout after the channel opened, whichever comes first.
func (c *Conn) authenticate(ctx context.Context, timeout time.Duration, fn func(*channelConn) error) error {
	ch, err := c.waitChannel(ctx, c.authOpen)
	if err != nil {
		return err
	}
	c.auth = ch
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		_ = ch.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = ch.SetReadDeadline(time.Now()) })
	defer stop()
	if err := fn(ch); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (during authentication)", ErrHandshakeTimeout)
		}
		return err
	}
	return ch.SetReadDeadline(time.Time{})
}

// addVideo adds the screen track on the host when it has one and the viewer's offer asks for
// video; otherwise the offer's video section is answered as rejected.
func (c *Conn) addVideo() error {
	if c.video == nil {
		return nil
	}
	wants := false
	for _, t := range c.pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			wants = true
		}
	}
	if !wants {
		return nil
	}
	capability, err := c.video.capability()
	if err != nil {
		return err
	}
	track, err := webrtc.NewTrackLocalStaticSample(capability, "screen", "deskport")
	if err != nil {
		return fmt.Errorf("session: video track: %w", err)
	}
	sender, err := c.pc.AddTrack(track)
	if err != nil {
		return fmt.Errorf("session: add video track: %w", err)
	}
	keyframes := make(chan struct{}, 1)
	c.track, c.keyframes = track, keyframes
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		readKeyframeRequests(sender, keyframes, c.done)
	}()
	return nil
}

// lingerAuth gives a refusal the host just wrote time to reach the viewer: closing at once would
// abort the association and drop it. It waits until the viewer hangs up, at most two seconds.
func (c *Conn) lingerAuth() {
	if c.auth == nil {
		return
	}
	_ = c.auth.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.auth.Read(buf); err != nil {
			return
		}
	}
}

func (c *Conn) openTunnel(ctx context.Context, server bool) error {
	var err error
	if c.tunnel, c.Mux, err = c.openMux(ctx, c.tunnelOpen, server); err != nil {
		return fmt.Errorf("session: start tunnel: %w", err)
	}
	if c.interactive, c.Interactive, err = c.openMux(ctx, c.interactiveOpen, server); err != nil {
		return fmt.Errorf("session: start interactive channel: %w", err)
	}
	return nil
}

func (c *Conn) openMux(ctx context.Context, open <-chan *channelConn, server bool) (*channelConn, *yamux.Session, error) {
	ch, err := c.waitChannel(ctx, open)
	if err != nil {
		return nil, nil, err
	}
	conn := mux.NewStreamConn(ch, mux.AdapterConfig{MaxMessage: c.tunnelMessage()})
	var ms *yamux.Session
	if server {
		ms, err = mux.NewServerSession(conn, c.log)
	} else {
		ms, err = mux.NewClientSession(conn, c.log)
	}
	if err != nil {
		ch.Close()
		return nil, nil, err
	}
	return ch, ms, nil
}

// tunnelMessage is the largest message written on the yamux channels: mux.TunnelMessage, or
// less if the peer's SCTP accepts less (the max-message-size of its SDP; pion assumes 64 KiB
// when there is none).
func (c *Conn) tunnelMessage() int {
	m := mux.TunnelMessage
	if peer := c.pc.SCTP().GetCapabilities().MaxMessageSize; peer > 0 && int(peer) < m {
		m = int(peer)
	}
	return m
}

// growReceiveBuffer raises the SCTP receive buffer from its pre-authentication size to the full
// one, once the peer has proven itself (api.go).
func (c *Conn) growReceiveBuffer() {
	if !c.pc.SCTP().SetMaxReceiveBufferSize(sctpReceiveBuffer) {
		c.log.Warn("no SCTP association to grow the receive buffer of")
	}
	c.resumeWindow()
}

// peerAddr is the address of the selected ICE pair's remote candidate (invalid before a pair
// is chosen): the key of the remembered windows (pathwindow.go).
func (c *Conn) peerAddr() netip.Addr {
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(pair.Remote.Address)
	return a.Unmap()
}

// resumeWindow starts the association at the window an earlier session to the same peer
// measured, if the path looks the same (pathwindow.go); from now on, this session's own
// measurement is remembered when it ends. Called once the peer has authenticated.
func (c *Conn) resumeWindow() {
	addr := c.peerAddr()
	if !addr.IsValid() {
		return
	}
	if c.windowAddr.Swap(&addr) != nil {
		return // resumed once already
	}
	// ICE's RTT, from its connectivity checks: SCTP has no sample yet on the side that has sent
	// nothing, and on the other its samples include the peer's delayed acknowledgements.
	st, ok := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok || st.CurrentRoundTripTime <= 0 {
		return
	}
	rtt := time.Duration(st.CurrentRoundTripTime * float64(time.Second))
	if w := pathWindows.lookup(addr, rtt, time.Now()); w > 0 && c.pc.SCTP().ResumeWindow(w) {
		c.log.Debug("resumed a remembered SCTP window", "peer", addr, "window", w, "rtt", rtt)
	}
}

// rememberWindow keeps what this session's association measured of its path, for the next
// session to the same peer (pathwindow.go).
func (c *Conn) rememberWindow() {
	addr := c.windowAddr.Load()
	if addr == nil {
		return
	}
	w, rtt := c.pc.SCTP().PathWindow()
	// When the peer ends the session the association can be gone before Close runs; then
	// what the tunnel channel's writer sampled last (adapt) stands for it.
	if c.tunnel != nil {
		if last := c.tunnel.path.Load(); (w == 0 || rtt == 0) && last != nil {
			w, rtt = last.window, last.minRTT
		}
	}
	pathWindows.remember(*addr, w, rtt, time.Now())
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why a running connection ended on its own (ICE failed, ErrHostGone), or nil: while it
// runs, when it was closed by Close, or when the peer ended it.
func (c *Conn) Err() error {
	if p := c.endErr.Load(); p != nil {
		return *p
	}
	return nil
}

// IgnoredDescriptions counts the offers and answers that arrived after the first and were
// ignored; anything but zero means the rendezvous (or a peer) tried to renegotiate.
func (c *Conn) IgnoredDescriptions() int64 { return c.lateDescs.Load() }

// CandidateType describes the selected ICE path as local/remote candidate types: "host/host"
// (direct), "srflx/…" (through a NAT, found by STUN), "relay/…" (through a TURN server; then
// with how this end reaches it: " via TURN over UDP", "TCP" or "TLS"). It is "" before a pair
// is chosen.
func (c *Conn) CandidateType() string {
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return ""
	}
	s := kind(*pair.Local).String() + "/" + kind(*pair.Remote).String()
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		proto := "?"
		for _, st := range c.pc.GetStats() {
			cs, ok := st.(webrtc.ICECandidateStats)
			if ok && cs.Type == webrtc.StatsTypeLocalCandidate && cs.CandidateType == webrtc.ICECandidateTypeRelay &&
				cs.IP == pair.Local.Address && cs.Port == int32(pair.Local.Port) && cs.RelayProtocol != "" {
				proto = strings.ToUpper(cs.RelayProtocol)
				break
			}
		}
		s += " via TURN over " + proto
	}
	return s
}

// hasTURN reports whether a list names a TURN server.
func hasTURN(list []webrtc.ICEServer) bool {
	for _, s := range list {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// Close ends the connection: the tunnel first, then the channels, then the peer connection, and
// waits for the goroutines this Conn started.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.lifeMu.Lock()
		c.closing = true
		c.lifeMu.Unlock()
		c.restartMu.Lock()
		if c.restarts != nil {
			c.restarts.remove(c.rkey.idString(), c)
		}
		c.restartMu.Unlock()
		var errs []error
		for _, m := range []*yamux.Session{c.lane.get(), c.Mux, c.Interactive} {
			if m != nil {
				errs = append(errs, m.Close())
			}
		}
		for _, ch := range []*channelConn{c.tunnel, c.interactive, c.auth} {
			if ch != nil {
				errs = append(errs, ch.Close())
			}
		}
		c.rememberWindow()
		errs = append(errs, c.pc.Close())
		c.wg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// HostConn is the host's side of an authenticated session, as Accept returns it.
type HostConn struct {
	*Conn
	// Peer is who the viewer proved to be and what it was granted.
	Peer *auth.Peer
	// Video is the screen track when the host offers video and the viewer asked for it (else
	// nil). Samples written before authentication succeeded would reach nobody: the host
	// starts its stream only after Accept returns.
	Video *webrtc.TrackLocalStaticSample
	// Keyframes delivers the viewer's keyframe requests (PLI/FIR) for Video, and one after
	// each ICE restart (the frames sent just before it may be lost).
	Keyframes <-chan struct{}
	// Estimator is, with video, the congestion controller's bitrate estimate.
	Estimator cc.BandwidthEstimator
}

// ViewerConn is the viewer's side of an authenticated session, as Dial returns it.
type ViewerConn struct {
	*Conn
	// Result is what the host proved and granted.
	Result *auth.Result
	// Tracks delivers the host's video track, when Config.Video asked for one (else nil).
	Tracks <-chan *webrtc.TrackRemote
}

// Dial connects a viewer to hostID through sig and authenticates with vc. The returned
// ViewerConn's Mux is ready for forward.NewClient, its Interactive for mux.Open.
func Dial(ctx context.Context, sig Signaler, hostID string, cfg Config, vc auth.ViewerConfig) (*ViewerConn, error) {
	log := cfg.logger().With("host_id", hostID)
	ctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout())
	defer cancel()
	c, err := newConn(&cfg, sig, log)
	if err != nil {
		return nil, err
	}
	if err := c.dial(ctx, cfg.authTimeout(), hostID, vc); err != nil {
		err = c.setupError(err, "host")
		c.Close()
		return nil, err
	}
	close(c.ready)
	if c.rkey != nil {
		c.mobile.Store(true)
		onRestart := cfg.OnRestart
		c.goRun(func() { c.mobility(onRestart) })
	}
	if !cfg.NoDirectTCP && !cfg.RelayOnly {
		c.laneOK = true
		tried := make(chan struct{})
		lctx, lcancel := context.WithCancel(context.Background())
		started := c.goRun(func() {
			defer close(tried)
			defer lcancel()
			go func() {
				select {
				case <-c.done:
					lcancel()
				case <-lctx.Done():
				}
			}()
			switch err := c.offerLane(lctx); {
			case errors.Is(err, errNotDirect):
				log.Debug("no direct TCP lane", "err", err)
			case err != nil:
				log.Info("no direct TCP lane: forwards and files stay on the peer connection", "err", err)
			default:
				log.Info("forwards and files take the direct TCP lane")
			}
		})
		if started {
			select {
			case <-tried:
			case <-time.After(laneWait):
			}
		} else {
			lcancel()
		}
	}
	v := &ViewerConn{Conn: c, Result: c.result}
	if c.tracks != nil {
		v.Tracks = c.tracks
	}
	return v, nil
}

func (c *Conn) dial(ctx context.Context, authTimeout time.Duration, hostID string, vc auth.ViewerConfig) error {
	descs := make(chan *signaling.Message, 1)
	c.goRun(func() { c.receive(c.cur.sig, descs, false, nil) })
	if c.video != nil {
		c.tracks = make(chan *webrtc.TrackRemote, 1)
		if _, err := c.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fmt.Errorf("session: add video transceiver: %w", err)
		}
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("session: create offer: %w", err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("session: set local description: %w", err)
	}
	if err := c.cur.sig.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: c.mtu.advertise(offer.SDP)}); err != nil {
		return fmt.Errorf("session: send offer: %w", err)
	}
	close(c.cur.sent)
	select {
	case s := <-descs:
		if s.Type != signaling.TypeAnswer {
			return fmt.Errorf("%w: expected an answer, got an offer", ErrSignaling)
		}
		if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
			return err
		}
	case err := <-c.failed:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: the host did not answer", ErrHandshakeTimeout)
	}
	err = c.authenticate(ctx, authTimeout, func(ch *channelConn) error {
		c.probeMTU(ctx)
		// On the viewer the local certificate is the viewer's and the remote one the host's.
		viewerCert, hostCert, err := c.binding()
		if err != nil {
			return err
		}
		b := auth.Binding{HostCert: hostCert, ViewerCert: viewerCert, HostID: hostID}
		res, err := auth.Viewer(ch, b, vc)
		if err != nil {
			return err
		}
		c.result = res
		c.growReceiveBuffer()
		return nil
	})
	if err != nil {
		return err
	}
	if c.resignal != nil {
		c.sendRestartKey()
	}
	return c.openTunnel(ctx, false)
}

// Accept answers the offer that arrives on sig and authenticates the viewer with hc. The
// returned HostConn's Mux and Interactive are ready for a mux.Dispatcher each.
func Accept(ctx context.Context, sig Signaler, hostID string, cfg Config, hc auth.HostConfig) (*HostConn, error) {
	log := cfg.logger()
	var first *signaling.Message
	if cfg.Restarts != nil {
		// The offer may restart ICE of a running session (restart.go) rather than open one.
		m, err := firstMessage(ctx, sig, cfg.handshakeTimeout())
		if err != nil {
			return nil, err
		}
		if m.Type == signaling.TypeOffer {
			if _, ok := parseRestart(m.SDP); ok {
				return nil, cfg.Restarts.restart(ctx, sig, m, cfg.handshakeTimeout())
			}
		}
		first = m
	}
	if cfg.Gate != nil {
		release, err := cfg.Gate.enter(cfg.Source)
		if err != nil {
			// Tell the viewer now, rather than let its set-up time out.
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = sig.Send(sctx, &signaling.Message{Type: signaling.TypeBye, Reason: busyReason})
			cancel()
			return nil, err
		}
		defer release()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout())
	defer cancel()
	c, err := newConn(&cfg, sig, log)
	if err != nil {
		return nil, err
	}
	if err := c.accept(ctx, cfg.authTimeout(), hostID, hc, first); err != nil {
		err = c.setupError(err, "viewer")
		c.lingerAuth()
		c.Close()
		return nil, err
	}
	close(c.ready)
	if r := cfg.Restarts; r != nil {
		c.goRun(func() { c.readRestartKey(r) })
	}
	return &HostConn{Conn: c, Peer: c.peer, Video: c.track, Keyframes: c.keyframes, Estimator: c.estimator}, nil
}

func (c *Conn) accept(ctx context.Context, authTimeout time.Duration, hostID string, hc auth.HostConfig, first *signaling.Message) error {
	descs := make(chan *signaling.Message, 1)
	if first != nil {
		// Accept took the offer to see whether it restarts a running session.
		descs <- first
	}
	c.goRun(func() { c.receive(c.cur.sig, descs, first != nil, nil) })
	select {
	case s := <-descs:
		if s.Type != signaling.TypeOffer {
			return fmt.Errorf("%w: expected an offer, got an answer", ErrSignaling)
		}
		if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: s.SDP}); err != nil {
			return err
		}
	case err := <-c.failed:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: no offer from the viewer", ErrHandshakeTimeout)
	}
	if err := c.addVideo(); err != nil {
		return err
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("session: create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("session: set local description: %w", err)
	}
	if err := c.cur.sig.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: c.mtu.advertise(answer.SDP)}); err != nil {
		return fmt.Errorf("session: send answer: %w", err)
	}
	close(c.cur.sent)
	// Until the viewer has proven itself, whatever arrives on the tunnel and interactive
	// channels is read and dropped (drain.go); the drainers stop just before the host tells
	// the viewer it is in, after which the viewer may start sending there.
	drains := []*drainer{c.drain(c.tunnelOpen), c.drain(c.interactiveOpen)}
	accepting := hc.Accepting
	hc.Accepting = func() {
		var dropped int64
		for _, d := range drains {
			dropped += d.halt()
		}
		if dropped > 0 {
			c.log.Warn("dropped what the viewer sent before authenticating", "bytes", dropped)
		}
		c.growReceiveBuffer()
		if accepting != nil {
			accepting()
		}
	}
	err = c.authenticate(ctx, authTimeout, func(ch *channelConn) error {
		c.probeMTU(ctx)
		hostCert, viewerCert, err := c.binding()
		if err != nil {
			return err
		}
		peer, err := auth.Host(ch, auth.Binding{HostCert: hostCert, ViewerCert: viewerCert, HostID: hostID}, hc)
		if err != nil {
			return err
		}
		c.peer = peer
		return nil
	})
	if err != nil {
		return err
	}
	return c.openTunnel(ctx, true)
}
