package session

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/deskport/deskport/tempfork/webrtc"
)

// PathError says why no network path between the two ends was found: what each end offered,
// what the checks got, and what to do. It matches ErrConnectionFailed with errors.Is, and the
// error that ended set-up (a timeout, the peer giving up) too.
type PathError struct {
	// Local and Remote are the candidate types each end offered ("host", "srflx", "relay"),
	// with their transports.
	Local, Remote []string
	// Pairs is how many candidate pairs were checked, Answered how many got an answer.
	Pairs, Answered int
	// Advice says what to change.
	Advice string
	// Cause is what ended set-up.
	Cause error
}

func (e *PathError) Error() string {
	var b strings.Builder
	b.WriteString("no network path to the peer: this end offered ")
	b.WriteString(describe(e.Local))
	b.WriteString("; the peer offered ")
	b.WriteString(describe(e.Remote))
	if e.Pairs > 0 {
		plural := "s"
		if e.Pairs == 1 {
			plural = ""
		}
		fmt.Fprintf(&b, "; %d candidate pair%s checked, %d answered", e.Pairs, plural, e.Answered)
	}
	if e.Advice != "" {
		b.WriteString("; ")
		b.WriteString(e.Advice)
	}
	if e.Cause != nil && !strings.Contains(e.Cause.Error(), ErrConnectionFailed.Error()) {
		b.WriteString(" (")
		b.WriteString(e.Cause.Error())
		b.WriteString(")")
	}
	return b.String()
}

func (e *PathError) Unwrap() []error { return []error{ErrConnectionFailed, e.Cause} }

func describe(types []string) string {
	if len(types) == 0 {
		return "no candidates"
	}
	return strings.Join(types, ", ") + " candidates"
}

// iceAttempt records what one end's ICE agent gathered and heard, for PathError.
type iceAttempt struct {
	stun, turn []string // configured server URLs

	mu            sync.Mutex
	local, remote map[string]bool // "srflx/udp" → seen
}

func newICEAttempt(servers []webrtc.ICEServer) *iceAttempt {
	a := &iceAttempt{local: map[string]bool{}, remote: map[string]bool{}}
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				a.turn = append(a.turn, u)
			} else {
				a.stun = append(a.stun, u)
			}
		}
	}
	return a
}

func (a *iceAttempt) addLocal(typ webrtc.ICECandidateType, proto webrtc.ICEProtocol) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.local[typ.String()+"/"+proto.String()] = true
}

func (a *iceAttempt) addRemote(typ, proto string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.remote[typ+"/"+strings.ToLower(proto)] = true
}

// addRemoteSDP records the candidates a session description carries (a browser may put them
// there instead of trickling them).
func (a *iceAttempt) addRemoteSDP(sdp string) {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="); ok && strings.HasPrefix(v, "candidate:") {
			if typ, proto, _, ok := parseCandidate(v); ok {
				a.addRemote(typ, proto)
			}
		}
	}
}

// parseCandidate reads the transport, address and type of an ICE candidate line
// ("candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ..."). ip is nil
// for an mDNS name.
func parseCandidate(s string) (typ, proto string, ip net.IP, ok bool) {
	f := strings.Fields(strings.TrimPrefix(s, "candidate:"))
	if len(f) < 8 || f[6] != "typ" {
		return "", "", nil, false
	}
	return f[7], strings.ToLower(f[2]), net.ParseIP(f[4]), true
}

// has reports whether set holds a candidate of type typ (any transport).
func has(set map[string]bool, typ string) bool {
	for k := range set {
		if strings.HasPrefix(k, typ+"/") {
			return true
		}
	}
	return false
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	order := map[string]int{"host": 0, "srflx": 1, "prflx": 2, "relay": 3}
	slices.SortFunc(out, func(x, y string) int {
		tx, _, _ := strings.Cut(x, "/")
		ty, _, _ := strings.Cut(y, "/")
		if d := order[tx] - order[ty]; d != 0 {
			return d
		}
		return strings.Compare(x, y)
	})
	return out
}

// explain builds the PathError for a set-up that ended with cause before ICE connected.
func (a *iceAttempt) explain(cause error, pairs, answered int, peer string) *PathError {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := &PathError{Local: sorted(a.local), Remote: sorted(a.remote), Pairs: pairs, Answered: answered, Cause: cause}
	var advice []string
	switch {
	case len(a.remote) == 0:
		advice = append(advice, "the "+peer+" sent no candidates (it has no usable network address, or signaling lost them)")
	case has(a.local, "relay") && has(a.remote, "relay"):
		advice = append(advice, "even the relays did not connect: check that the TURN servers can reach each other and both ends (firewalls), and that the relay may reach these addresses (--turn-allow-private for private ones)")
	case len(a.turn) > 0 && !has(a.local, "relay"):
		advice = append(advice, fmt.Sprintf("the TURN server (%s) gave this end no relay address: check that it is reachable from here (UDP or TCP 3478, TLS 5349 or 443) and that its credentials are valid", strings.Join(a.turn, " ")))
	case !has(a.local, "relay") && !has(a.remote, "relay"):
		advice = append(advice, "no TURN relay on either end, and the direct checks got no answer (both ends behind NATs that give every destination its own port, symmetric NATs, or a firewall that blocks UDP): start the rendezvous with --turn, or give both ends --ice-server turn:HOST:3478")
	default:
		advice = append(advice, "the relay on one end did not reach the other end: check the firewalls between the TURN server and the ends")
	}
	switch {
	case len(a.stun) == 0 && len(a.turn) == 0:
		advice = append(advice, "this end has no STUN server, so it cannot learn its public address: use a rendezvous that hands one out, or --ice-server stun:HOST:3478")
	case len(a.stun) > 0 && !has(a.local, "srflx") && !has(a.local, "relay"):
		advice = append(advice, fmt.Sprintf("the STUN server (%s) did not answer: UDP from here is blocked; only a TURN relay over TCP or TLS gets out", strings.Join(a.stun, " ")))
	}
	e.Advice = strings.Join(advice, "; ")
	return e
}

// setupError explains a set-up that ended before ICE found a path; other errors pass through.
// peer names the other end ("viewer" or "host") in the advice.
func (c *Conn) setupError(err error, peer string) error {
	if !errors.Is(err, ErrConnectionFailed) && !errors.Is(err, ErrHandshakeTimeout) && !errors.Is(err, ErrPeerLeft) {
		return err
	}
	c.candMu.Lock()
	remoteSet := c.remoteSet
	c.candMu.Unlock()
	if !remoteSet {
		return err // no offer or answer yet: signaling failed, not the network path
	}
	switch c.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateNew, webrtc.ICEConnectionStateChecking, webrtc.ICEConnectionStateFailed:
	default:
		return err
	}
	pairs, answered := 0, 0
	for _, s := range c.pc.GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.RequestsSent > 0 {
			pairs++
			if p.ResponsesReceived > 0 {
				answered++
			}
		}
	}
	return c.tried.explain(err, pairs, answered, peer)
}
