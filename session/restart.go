package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc"

	"github.com/deskport/deskport/signaling"
)

// ICE restarts (docs/session.md, "Moving networks"). When the viewer's network changes (Wi-Fi to
// cable, a new address) the selected ICE pair stops answering. The viewer then opens a fresh
// rendezvous session, sends an ICE restart offer there, and the host applies it to the running
// peer connection: DTLS, SCTP and every stream carry on over the new path.
//
// The rendezvous sees the SDP, so an unauthenticated restart would let it point a running
// session at addresses of its choice. A restart is therefore bound to the session by a key only
// the two peers know: right after authenticating, the viewer sends the host, on the auth channel
// (inside DTLS), a restart ID and a 32-byte key. A restart offer carries the ID, a sequence
// number and an HMAC-SHA256 over the whole description; the host answers with an HMAC of its
// own. The host applies no other late description; only the viewer starts a restart.
const (
	// sdpRestart is the session-level attribute that carries the proof:
	// "a=x-deskport-restart:<ID, 32 hex> <sequence> <HMAC, base64url>".
	sdpRestart = "x-deskport-restart"
	// restartKeyMagic starts the viewer's message on the auth channel: magic, ID, key.
	restartKeyMagic = "deskport-restart-key-v1\x00"
	// restartMACDomain separates this MAC from every other use of the key.
	restartMACDomain = "deskport-ice-restart-v1"
	restartIDBytes   = 16
	restartKeyBytes  = 32

	// restartAttempt bounds one restart: a new rendezvous session, offer, answer, checks.
	restartAttempt = 15 * time.Second
	// restartGiveUp is how long the viewer keeps trying before it ends the session. The host
	// gives up on its own when ICE has failed (no packet for 3 s + 25 s).
	restartGiveUp = 60 * time.Second
	// hostGoneWait is how long the viewer's restarts may find the host offline at the
	// rendezvous before it ends the session with ErrHostGone: a host that moved networks
	// registers again within seconds; one that stopped or crashed does not (yamux's keepalive
	// would end the session about 40 s after the last packet otherwise, with nothing said).
	hostGoneWait = 20 * time.Second
)

// ICE liveness. pion's defaults (5 s without a packet is disconnected, a keepalive every 2 s)
// would let a moved viewer sit 5 s on a dead path before it restarts; every packet counts as
// life, so a running transfer is never taken for dead, and an idle session sends a STUN check a
// second.
const (
	iceDisconnectedTimeout = 3 * time.Second
	iceFailedTimeout       = 25 * time.Second
	iceKeepalive           = time.Second
)

var (
	// ErrRestarted is what Accept returns when the offer it got restarted ICE of a running
	// session rather than opening a new one: nothing is left for the caller to do. It is
	// wrapped, with the reason, when the restart's checks did not succeed.
	ErrRestarted = errors.New("session: the offer restarted ICE of a running session")
	// ErrBadRestart means an ICE restart offer was refused: its proof did not verify, it was
	// replayed, or no running session knows it.
	ErrBadRestart = errors.New("session: refused an ICE restart")
)

// Restarts finds the running session an ICE restart offer belongs to. The host shares one among
// all its Accepts (Config.Restarts); the zero value is not usable, use NewRestarts.
type Restarts struct {
	mu    sync.Mutex
	conns map[string]*Conn
	added chan struct{} // closed and replaced on every add, for tests
}

// NewRestarts returns an empty registry.
func NewRestarts() *Restarts {
	return &Restarts{conns: make(map[string]*Conn), added: make(chan struct{})}
}

func (r *Restarts) add(id string, c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.conns[id]; dup {
		return false
	}
	r.conns[id] = c
	close(r.added)
	r.added = make(chan struct{})
	return true
}

func (r *Restarts) remove(id string, c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[id] == c {
		delete(r.conns, id)
	}
}

func (r *Restarts) lookup(id string) *Conn {
	c, _ := r.find(id)
	return c
}

// find returns the session registered as id, or a channel closed at the next registration.
func (r *Restarts) find(id string) (*Conn, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[id], r.added
}

// restartKey binds restarts to one authenticated session.
type restartKey struct {
	id  [restartIDBytes]byte
	key [restartKeyBytes]byte
}

func newRestartKey() (*restartKey, error) {
	k := &restartKey{}
	if _, err := rand.Read(k.id[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(k.key[:]); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *restartKey) idString() string { return hex.EncodeToString(k.id[:]) }

func (k *restartKey) marshal() []byte {
	b := append([]byte(restartKeyMagic), k.id[:]...)
	return append(b, k.key[:]...)
}

func parseRestartKey(b []byte) (*restartKey, bool) {
	rest, ok := strings.CutPrefix(string(b), restartKeyMagic)
	if !ok || len(rest) != restartIDBytes+restartKeyBytes {
		return nil, false
	}
	k := &restartKey{}
	copy(k.id[:], rest)
	copy(k.key[:], rest[restartIDBytes:])
	return k, true
}

// mac is the proof for one description: role is "offer" or "answer", sdp the description
// without its restart line.
func (k *restartKey) mac(role string, seq uint64, sdp string) []byte {
	h := hmac.New(sha256.New, k.key[:])
	h.Write([]byte(restartMACDomain + "\x00" + role + "\x00"))
	h.Write(k.id[:])
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	h.Write([]byte(sdp))
	return h.Sum(nil)
}

// sign adds the restart line to a description, at session level.
func (k *restartKey) sign(role string, seq uint64, sdp string) string {
	line := "a=" + sdpRestart + ":" + k.idString() + " " + strconv.FormatUint(seq, 10) + " " +
		base64.RawURLEncoding.EncodeToString(k.mac(role, seq, sdp)) + "\r\n"
	if i := strings.Index(sdp, "\r\nm="); i >= 0 {
		return sdp[:i+2] + line + sdp[i+2:]
	}
	return sdp + line
}

// restartProof is a restart line taken out of a description.
type restartProof struct {
	id   string
	seq  uint64
	mac  []byte
	rest string // the description without the line, which is what the MAC covers
}

// parseRestart finds the restart line of a description; ok is false when it has none or a
// malformed one, or more than one.
func parseRestart(sdp string) (p restartProof, ok bool) {
	prefix := "a=" + sdpRestart + ":"
	start := -1
	switch {
	case strings.HasPrefix(sdp, prefix):
		start = 0
	default:
		if i := strings.Index(sdp, "\r\n"+prefix); i >= 0 {
			start = i + 2
		}
	}
	if start < 0 {
		return p, false
	}
	end := strings.Index(sdp[start:], "\r\n")
	if end < 0 {
		return p, false
	}
	line := sdp[start+len(prefix) : start+end]
	p.rest = sdp[:start] + sdp[start+end+2:]
	if strings.Contains(p.rest, "\r\n"+prefix) || strings.HasPrefix(p.rest, prefix) {
		return p, false
	}
	f := strings.Split(line, " ")
	if len(f) != 3 || len(f[0]) != 2*restartIDBytes {
		return p, false
	}
	if _, err := hex.DecodeString(f[0]); err != nil || strings.ToLower(f[0]) != f[0] {
		return p, false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || seq == 0 {
		return p, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(f[2])
	if err != nil || len(mac) != sha256.Size {
		return p, false
	}
	p.id, p.seq, p.mac = f[0], seq, mac
	return p, true
}

// verify checks a proof made with k for role.
func (k *restartKey) verify(role string, p restartProof) bool {
	return p.id == k.idString() && hmac.Equal(p.mac, k.mac(role, p.seq, p.rest))
}

// sigRoute is the signaling channel to the peer that candidates currently go out on: the set-up's, then
// each restart's.
type sigRoute struct {
	sig Signaler
	// sent is closed once this end's description went out on sig: candidates trickle only
	// after it, so that they do not overtake it.
	sent chan struct{}
	// replaced is closed when a restart supersedes this signaling.
	replaced chan struct{}
}

func newSigRoute(sig Signaler) *sigRoute {
	return &sigRoute{sig: sig, sent: make(chan struct{}), replaced: make(chan struct{})}
}

// current is the signaling candidates go out on.
func (c *Conn) current() *sigRoute {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	return c.cur
}

// switchSignaling makes sig the current signaling.
func (c *Conn) switchSignaling(sig Signaler) *sigRoute {
	st := newSigRoute(sig)
	c.sigMu.Lock()
	old := c.cur
	c.cur = st
	c.sigMu.Unlock()
	close(old.replaced)
	return st
}

// goRun starts fn as one of the Conn's goroutines, unless the Conn is closing.
func (c *Conn) goRun(fn func()) bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closing {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// iceChanged records an ICE connection state change; restarts wait on it.
func (c *Conn) iceChanged(s webrtc.ICEConnectionState) {
	c.iceMu.Lock()
	c.iceSeq++
	c.iceState = s
	if s == webrtc.ICEConnectionStateChecking {
		c.iceChecking = c.iceSeq
	}
	close(c.iceWake)
	c.iceWake = make(chan struct{})
	c.iceMu.Unlock()
	select {
	case c.iceEvents <- struct{}{}:
	default:
	}
}

// iceMark is the state-change count before a restart begins. ICE that is checking already (an
// earlier restart that never connected: its offer went unanswered, or its checks timed out) is
// restarted without a new state change, so its checking counts for this restart.
func (c *Conn) iceMark() uint64 {
	c.iceMu.Lock()
	defer c.iceMu.Unlock()
	if c.iceState == webrtc.ICEConnectionStateChecking {
		return c.iceChecking - 1
	}
	return c.iceSeq
}

// waitRestarted waits until ICE has gone through checking since mark and is connected again.
func (c *Conn) waitRestarted(ctx context.Context, mark uint64) error {
	for {
		c.iceMu.Lock()
		checked := c.iceChecking > mark
		s, wake := c.iceState, c.iceWake
		c.iceMu.Unlock()
		if checked && (s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted) {
			return nil
		}
		select {
		case <-wake:
		case <-c.done:
			return ErrPeerLeft
		case <-ctx.Done():
			return fmt.Errorf("%w: ICE did not connect after the restart (last state %s)", ErrConnectionFailed, s)
		}
	}
}

// sendRestartKey gives the host this session's restart key, on the auth channel (viewer).
func (c *Conn) sendRestartKey() {
	k, err := newRestartKey()
	if err != nil {
		c.log.Warn("no ICE restarts for this session", "err", err)
		return
	}
	if _, err := c.auth.Write(k.marshal()); err != nil {
		c.log.Warn("no ICE restarts for this session: sending the restart key", "err", err)
		return
	}
	c.rkey = k
}

// readRestartKey takes the viewer's restart key from the auth channel and registers the session
// for restarts (host). A viewer that sends none (the browser page) gets no restarts; anything
// else on the channel is ignored.
func (c *Conn) readRestartKey(r *Restarts) {
	buf := make([]byte, 256)
	n, err := c.auth.Read(buf)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.log.Debug("no restart key from the viewer", "err", err)
		}
		return
	}
	k, ok := parseRestartKey(buf[:n])
	if !ok {
		c.log.Debug("ignored a message on the auth channel after authentication", "bytes", n)
		return
	}
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	c.lifeMu.Lock()
	closing := c.closing
	c.lifeMu.Unlock()
	if closing {
		return
	}
	if !r.add(k.idString(), c) {
		c.log.Warn("ignored a restart ID another session already holds")
		return
	}
	c.rkey, c.restarts = k, r
	c.log.Debug("the viewer may restart ICE for this session")
}

// firstMessage waits for the first message of a host's signaling session: its offer.
func firstMessage(ctx context.Context, sig Signaler, timeout time.Duration) (*signaling.Message, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-sig.Recv():
		if !ok {
			return nil, fmt.Errorf("%w: signaling ended before the offer", ErrPeerLeft)
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: no offer from the viewer", ErrHandshakeTimeout)
	case <-t.C:
		return nil, fmt.Errorf("%w: no offer from the viewer", ErrHandshakeTimeout)
	}
}

// restart applies a viewer's restart offer, m, to the session it names and answers on sig. It
// returns ErrRestarted once ICE is connected again (so that sig stays open while candidates
// flow), or an error that wraps ErrBadRestart.
func (r *Restarts) restart(ctx context.Context, sig Signaler, m *signaling.Message, timeout time.Duration) error {
	p, ok := parseRestart(m.SDP)
	if !ok {
		return fmt.Errorf("%w: malformed restart proof", ErrBadRestart)
	}
	c := r.lookup(p.id)
	if c == nil {
		// Say so, rather than only end the signaling: the viewer ends its session at once
		// instead of retrying for a minute (ErrHostRestarted). Anyone may claim this, the
		// rendezvous too, but only to a viewer whose path has already died.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = sig.Send(sctx, &signaling.Message{Type: signaling.TypeBye, Reason: unknownSessionReason})
		cancel()
		return fmt.Errorf("%w: no running session knows restart ID %s (it ended, or the viewer reached another host)", ErrBadRestart, p.id)
	}
	ctx, cancel := context.WithTimeout(ctx, min(timeout, restartAttempt))
	defer cancel()
	return c.acceptRestart(ctx, sig, m.SDP, p)
}

func (c *Conn) acceptRestart(ctx context.Context, sig Signaler, sdp string, p restartProof) error {
	began := time.Now()
	mark, err := c.applyRestart(ctx, sig, sdp, p)
	if err != nil && !errors.Is(err, ErrBadRestart) {
		// The offer was the session's (its proof verified) but applying or answering it
		// failed: the viewer gave up on it before the host got to it, say. The session goes
		// on or ends by itself; this is no refused viewer.
		err = fmt.Errorf("%w, but it could not be applied: %w", ErrRestarted, err)
	}
	if err != nil {
		return err
	}
	// Not under restartMu: a newer restart (the viewer moved again, or gave up on this one)
	// must not wait for this one's checks to time out.
	if err := c.waitRestarted(ctx, mark); err != nil {
		// The running session goes on (or ends) by itself; this offer opened nothing.
		return fmt.Errorf("%w, but its checks did not succeed: %w", ErrRestarted, err)
	}
	c.mtu.reselect(c)
	c.requestKeyframe()
	c.log.Info("the viewer restarted ICE", "after", time.Since(began).Round(time.Millisecond), "path", c.CandidateType(), "packet_bytes", c.SCTPPacketSize())
	return ErrRestarted
}

// requestKeyframe asks the screen stream for a keyframe once an ICE restart has succeeded, as a
// viewer's PLI does (docs/session.md, "Moving networks"). Frames written while the old path was
// already dead are lost, and the viewer cannot tell: no later packet shows it the gap. A screen
// that changed during the move and then stayed still would otherwise reach it only with the
// stream's 5 s refresh, a delta frame it cannot decode, and the keyframe its PLI then brings
// (measured in a browser: 4.6-4.8 s after the restart; with this request 0.4-1.4 s). One
// pending request is enough; a session without video has no channel.
func (c *Conn) requestKeyframe() {
	if c.keyframes == nil {
		return
	}
	select {
	case c.keyframes <- struct{}{}:
	default:
	}
}

// applyRestart checks a restart offer, applies it and answers; it returns the ICE state mark to
// wait from.
func (c *Conn) applyRestart(ctx context.Context, sig Signaler, sdp string, p restartProof) (uint64, error) {
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	if c.rkey == nil || !c.rkey.verify("offer", p) {
		return 0, fmt.Errorf("%w: the offer's restart proof does not verify", ErrBadRestart)
	}
	if p.seq <= c.restartSeq {
		return 0, fmt.Errorf("%w: restart %d replayed (the last was %d)", ErrBadRestart, p.seq, c.restartSeq)
	}
	c.restartSeq = p.seq
	c.refreshICEServers(sig)
	mark := c.iceMark()
	st := c.switchSignaling(sig)
	if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return 0, fmt.Errorf("session: ICE restart: %w", err)
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return 0, fmt.Errorf("session: ICE restart: create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return 0, fmt.Errorf("session: ICE restart: set local description: %w", err)
	}
	out := c.rkey.sign("answer", p.seq, c.mtu.advertise(answer.SDP))
	if err := sig.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: out}); err != nil {
		return 0, fmt.Errorf("session: ICE restart: send answer: %w", err)
	}
	close(st.sent)
	if !c.goRun(func() { c.receive(sig, nil, true, nil) }) {
		return 0, ErrPeerLeft
	}
	return mark, nil
}

// restartICE moves the session to a new path (viewer): a fresh rendezvous session, an ICE
// restart offer with its proof, the host's answer with its own.
func (c *Conn) restartICE(ctx context.Context) error {
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, restartAttempt)
	defer cancel()
	sig, err := c.resignal(ctx)
	if err != nil {
		return fmt.Errorf("reaching the rendezvous: %w", err)
	}
	if cl, ok := sig.(io.Closer); ok {
		// Signaling is needed only until ICE is connected again.
		defer cl.Close()
	}
	c.refreshICEServers(sig)
	if c.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// The last attempt's offer was never answered.
		if err := c.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			return fmt.Errorf("roll back the unanswered restart offer: %w", err)
		}
	}
	c.restartSeq++
	seq := c.restartSeq
	st := c.switchSignaling(sig)
	c.candMu.Lock()
	c.remoteSet, c.pendingCands = false, nil // the host's new candidates wait for its answer
	c.candMu.Unlock()
	descs := make(chan *signaling.Message, 1)
	ended := make(chan struct{})
	if !c.goRun(func() { c.receive(sig, descs, false, ended) }) {
		return ErrPeerLeft
	}
	mark := c.iceMark()
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return fmt.Errorf("create restart offer: %w", err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	out := c.rkey.sign("offer", seq, c.mtu.advertise(offer.SDP))
	if err := sig.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: out}); err != nil {
		return fmt.Errorf("send restart offer: %w", err)
	}
	close(st.sent)
	var s *signaling.Message
	select {
	case s = <-descs:
	case <-ended:
		// receive hands over a bye that says why before it closes ended.
		select {
		case s = <-descs:
		default:
			return errors.New("the host ended the restart's signaling without answering (an older host, or the session ended there)")
		}
	case <-c.done:
		return ErrPeerLeft
	case <-ctx.Done():
		return errors.New("the host did not answer the restart offer")
	}
	if s.Type == signaling.TypeBye {
		// The host knows no such session (receive passes on no other bye).
		return ErrHostRestarted
	}
	p, ok := parseRestart(s.SDP)
	if s.Type != signaling.TypeAnswer || !ok || p.seq != seq || !c.rkey.verify("answer", p) {
		return fmt.Errorf("%w: the answer to the restart offer has no valid proof; it did not come from the host", ErrSignaling)
	}
	if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
		return err
	}
	if err := c.waitRestarted(ctx, mark); err != nil {
		return err
	}
	c.mtu.reselect(c)
	if c.laneOK {
		c.goRun(c.relane)
	}
	return nil
}

// addressPoll is how often the viewer checks this machine's addresses: a network change that
// takes one away (Wi-Fi off, a new DHCP lease) starts a restart at once, without waiting out
// ICE's 3 s of silence, and cancels a restart that was gathering on the old network.
const addressPoll = 500 * time.Millisecond

// addrSet is a snapshot of this machine's addresses; nil when they cannot be listed.
type addrSet map[string]bool

func (c *Conn) addresses() addrSet {
	if c.localAddrs == nil {
		return nil
	}
	list, err := c.localAddrs()
	if err != nil {
		return nil
	}
	set := addrSet{}
	for _, a := range list {
		if n, ok := a.(*net.IPNet); ok {
			set[n.IP.String()] = true
		}
	}
	return set
}

// lost returns an address of old that now is gone, or "".
func (old addrSet) lost(now addrSet) string {
	if old == nil || now == nil {
		return ""
	}
	for a := range old {
		if !now[a] {
			return a
		}
	}
	return ""
}

// RestartInfo describes a path the viewer moved to.
type RestartInfo struct {
	// Path is the new path, as CandidateType says it.
	Path string
	// After is the time from noticing the old path was gone to the new one connecting.
	After time.Duration
	// PacketSize is the SCTP packet size on the new path.
	PacketSize int
}

// mobility restarts ICE whenever the path stops answering (viewer): it watches ICE's state and,
// when it turns disconnected or failed, restarts through the rendezvous until a restart
// succeeds or restartGiveUp has passed, which ends the session.
func (c *Conn) mobility(onRestart func(RestartInfo)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !c.goRun(func() {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		cancel()
	}) {
		return
	}
	var tick <-chan time.Time
	if c.localAddrs != nil {
		t := time.NewTicker(addressPoll)
		defer t.Stop()
		tick = t.C
	}
	addrs := c.addresses()
	for {
		why := ""
		select {
		case <-ctx.Done():
			return
		case <-c.iceEvents:
			c.iceMu.Lock()
			s := c.iceState
			c.iceMu.Unlock()
			if s != webrtc.ICEConnectionStateDisconnected && s != webrtc.ICEConnectionStateFailed {
				continue
			}
			why = "the network path to the host stopped answering (ICE " + s.String() + ")"
		case <-tick:
			now := c.addresses()
			gone := addrs.lost(now)
			if now != nil {
				addrs = now // addresses that came are taken in; only a lost one moves the path
			}
			if gone == "" {
				continue
			}
			why = "this machine lost its address " + gone
		}
		began := time.Now()
		c.log.Warn(why + "; restarting ICE through the rendezvous")
		backoff := 250 * time.Millisecond
		var offlineSince time.Time
		for {
			err := c.restartAttempt(ctx, tick)
			addrs = c.addresses()
			if err == nil {
				info := RestartInfo{Path: c.CandidateType(), After: time.Since(began), PacketSize: c.SCTPPacketSize()}
				c.log.Info("ICE restarted: the session goes on over a new path", "after", info.After.Round(time.Millisecond), "path", info.Path, "packet_bytes", info.PacketSize)
				if onRestart != nil {
					onRestart(info)
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrHostRestarted) {
				// No restart can bring back a session the host no longer has.
				c.log.Warn("giving up: the host no longer has this session", "err", err)
				c.fail(ErrHostRestarted)
				return
			}
			if time.Since(began) > restartGiveUp {
				c.log.Warn("giving up: no new path to the host", "tried_for", time.Since(began).Round(time.Second), "err", err)
				c.fail(ErrConnectionFailed)
				return
			}
			switch {
			case !errors.Is(err, ErrPeerOffline):
				offlineSince = time.Time{}
				c.log.Warn("ICE restart failed; trying again", "err", err, "retry_in", backoff)
			case offlineSince.IsZero():
				offlineSince = time.Now()
				c.log.Warn("the host is not online at the rendezvous; waiting for it to come back", "up_to", hostGoneWait, "err", err)
			case time.Since(offlineSince) >= hostGoneWait:
				c.log.Warn("giving up: the host stayed offline", "offline_for", time.Since(offlineSince).Round(time.Second), "err", err)
				c.fail(ErrHostGone)
				return
			default:
				c.log.Debug("ICE restart failed; trying again", "err", err, "retry_in", backoff)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 4*time.Second)
		}
		// ICE states reported during the restart are done with.
		select {
		case <-c.iceEvents:
		default:
		}
	}
}

// restartAttempt runs one restart, cancelled when an address goes away meanwhile: its
// candidates were gathered on a network that is no longer there.
func (c *Conn) restartAttempt(ctx context.Context, tick <-chan time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errMoved := errors.New("the network changed again during the restart")
	if tick != nil {
		addrs := c.addresses()
		stop := make(chan struct{})
		defer close(stop)
		if !c.goRun(func() {
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-tick:
					if addrs.lost(c.addresses()) != "" {
						cancel(errMoved)
						return
					}
				}
			}
		}) {
			return ErrPeerLeft
		}
	}
	err := c.restartICE(ctx)
	if err != nil && errors.Is(context.Cause(ctx), errMoved) {
		return errMoved
	}
	return err
}

// iceServerSource is a Signaler that knows the ICE servers its rendezvous session handed out
// (rendezvous.Session does).
type iceServerSource interface {
	ICEServers() []signaling.ICEServer
}

// refreshICEServers makes the ICE servers of sig's rendezvous session replace those of the
// session the connection was set up (or last restarted) with, so that a restart gathers relay
// candidates with fresh TURN credentials: the set-up's expire (the rendezvous's
// --turn-credential-ttl, 10 minutes by default) and would no longer open an allocation. Servers
// from elsewhere (--ice-server) stay. Called under restartMu, before the restart gathers.
func (c *Conn) refreshICEServers(sig Signaler) {
	src, ok := sig.(iceServerSource)
	if !ok {
		return
	}
	fresh := ICEServers(src.ICEServers())
	if len(fresh) == 0 {
		return
	}
	cfg := c.pc.GetConfiguration()
	kept := make([]webrtc.ICEServer, 0, len(cfg.ICEServers))
	for _, s := range cfg.ICEServers {
		if !slices.ContainsFunc(c.rvICE, func(o webrtc.ICEServer) bool { return sameICEServer(o, s) }) {
			kept = append(kept, s)
		}
	}
	cfg.ICEServers = append(fresh, kept...)
	if err := c.pc.SetConfiguration(cfg); err != nil {
		c.log.Warn("the restart keeps the set-up's ICE servers", "err", err)
		return
	}
	c.rvICE = fresh
}

func sameICEServer(a, b webrtc.ICEServer) bool {
	return slices.Equal(a.URLs, b.URLs) && a.Username == b.Username &&
		fmt.Sprint(a.Credential) == fmt.Sprint(b.Credential)
}
