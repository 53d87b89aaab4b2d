package rendezvous

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/signaling"
)

// Several rendezvous instances behind one load balancer act as one: each host's socket is held
// by one instance, which records "host ID → instance" in shared state; a viewer's instance looks
// the host up and routes the session's signaling to the host's instance over a message bus.
//
// A session with its two ends on different instances lives on both: each instance keeps it
// with one local end and one stand-in (a conn whose relay is set) for the remote end. What the
// server sends to a stand-in goes over the bus, and what arrives from the bus is routed as if
// the stand-in had sent it, so that route, expire and drop work unchanged. Every session to a
// host is opened by the host's instance (an "open" request), so the limits that protect a host
// (pending sessions per host and per address) are counted in one place, across instances.
//
// The shared state and the bus are Redis today (redis.go); docs/cluster.md describes the keys,
// TTLs and failure behaviour.

// cluster is what a Server needs from the shared state and the bus.
type cluster interface {
	// id is this instance's name on the bus.
	id() string
	// hostUp records that this instance now holds the host's socket; remote is the host's
	// address. hostDown records that it no longer does. Neither blocks.
	hostUp(hostID, remote string)
	hostDown(hostID string)
	// locate returns the instance that holds the host ("" if none) and when the host was last
	// seen online (zero if never).
	locate(ctx context.Context, hostID string) (instance string, lastSeen time.Time, err error)
	// publish sends e to instance without blocking; it is dropped if the bus is down.
	publish(instance string, e *envelope)
	// reachable reports whether the shared state answers: false from the round trip that found
	// it gone until a renewal has published this instance's hosts again.
	reachable() bool
	close() error
}

// Timings of the cluster.
const (
	// clusterOpenTimeout bounds a viewer's wait for the host's instance to open a session.
	clusterOpenTimeout = 3 * time.Second
	// clusterLocateTimeout bounds the lookup of a host in the shared state.
	clusterLocateTimeout = 2 * time.Second
)

// Kinds of envelopes.
const (
	kindOpen     = "open"     // viewer's instance → host's instance: open Session with HostID
	kindMsg      = "msg"      // either way: a signal message of Session, to its end there
	kindReplaced = "replaced" // another instance registered HostID: close the local socket
)

// envelope is one message between instances on the bus.
type envelope struct {
	Kind    string          `json:"k"`
	From    string          `json:"f"`
	Session string          `json:"s,omitempty"`
	HostID  string          `json:"h,omitempty"`
	IP      string          `json:"ip,omitempty"` // open: the viewer's limit key (see limitKey)
	Addr    string          `json:"a,omitempty"`  // open: the viewer's address; replaced: the new registration's
	Msg     json.RawMessage `json:"m,omitempty"`  // msg: the signal message
}

// maxEnvelopeBytes bounds an envelope: one signal message and a few short fields.
const maxEnvelopeBytes = 2*signaling.MaxMessageBytes + 1024

var errBadEnvelope = errors.New("rendezvous: bad cluster envelope")

// decodeEnvelope parses and checks an envelope from the bus. The bus is shared only by the
// instances of one deployment, but its bytes come over the network all the same: nothing in
// them is trusted further than the wire format's own checks.
func decodeEnvelope(b []byte) (*envelope, *signaling.Message, error) {
	if len(b) > maxEnvelopeBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes", errBadEnvelope, len(b))
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errBadEnvelope, err)
	}
	if e.From == "" || len(e.From) > 64 || len(e.IP) > 64 || len(e.Addr) > 64 {
		return nil, nil, fmt.Errorf("%w: missing or oversized field", errBadEnvelope)
	}
	sessionOK := func() bool {
		return (&signaling.Message{Type: signaling.TypeBye, Session: e.Session}).Validate() == nil
	}
	switch e.Kind {
	case kindOpen:
		if _, err := identity.ParseHostID(e.HostID); err != nil || !sessionOK() || e.IP == "" {
			return nil, nil, fmt.Errorf("%w: open without a valid host, session or address", errBadEnvelope)
		}
		return &e, nil, nil
	case kindReplaced:
		if _, err := identity.ParseHostID(e.HostID); err != nil {
			return nil, nil, fmt.Errorf("%w: replaced without a valid host", errBadEnvelope)
		}
		return &e, nil, nil
	case kindMsg:
		if !sessionOK() {
			return nil, nil, fmt.Errorf("%w: msg without a valid session", errBadEnvelope)
		}
		m, err := signaling.Decode(e.Msg)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errBadEnvelope, err)
		}
		if m.Session != "" && m.Session != e.Session {
			return nil, nil, fmt.Errorf("%w: message of another session", errBadEnvelope)
		}
		return &e, m, nil
	default:
		return nil, nil, fmt.Errorf("%w: unknown kind %q", errBadEnvelope, e.Kind)
	}
}

// clusterTestHooks let tests see the cluster's progress (Config.clusterTest).
type clusterTestHooks struct {
	claimed    func(hostID string) // a host's presence is published in Redis
	subscribed func()              // the bus subscription is (re)established
	every      time.Duration       // the presence renewal period; 0 for presenceRefresh
}

// relay makes a conn the stand-in for the end of one session held by another instance.
type relay struct {
	inst    string
	session string
	// opened, on the viewer's instance until the host's instance answers the open request,
	// receives that answer (a session or an error message). Guarded by s.mu.
	opened chan *signaling.Message
}

// send passes m to the instance holding the end. It never blocks.
func (r *relay) send(c *conn, m *signaling.Message) {
	b, err := signaling.Encode(m)
	if err != nil {
		c.log.Error("BUG: refusing to relay an invalid message", "type", m.Type, "err", err)
		return
	}
	c.s.cluster.publish(r.inst, &envelope{Kind: kindMsg, Session: r.session, Msg: b})
}

// joinCluster connects the server to the other instances through Redis.
func (s *Server) joinCluster() error {
	s.metrics.EnableRedis()
	onRedis := func(op string, d time.Duration, err error) {
		s.metrics.RedisRoundTrip(redisMetricOp(op), d, err)
		s.metrics.SetRedisUp(err == nil)
		if s.cfg.OnRedis != nil {
			s.cfg.OnRedis(op, d, err)
		}
	}
	h := clusterHooks{onRedis: onRedis, deliver: s.fromBus, claimed: func(string) {},
		remotes: s.remoteInstances, gone: s.instanceGone}
	if t := s.cfg.clusterTest; t != nil {
		h.claimed, h.subscribed, h.every = t.claimed, t.subscribed, t.every
	}
	rc, err := newRedisCluster(s.cfg.Redis, s.cfg.MaxKnownHosts, s.log, h)
	if err != nil {
		return err
	}
	s.cluster = rc
	return nil
}

// connectRemote serves a viewer's connect for a host that is not online here: it finds the
// host's instance and asks it to open the session. It blocks, without s.mu, for up to
// clusterLocateTimeout + clusterOpenTimeout.
func (s *Server) connectRemote(c *conn, m *signaling.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterLocateTimeout)
	inst, seen, err := s.cluster.locate(ctx, m.HostID)
	cancel()
	if err != nil {
		c.log.Warn("cannot look up a host in Redis", "host_id", m.HostID, "err", err)
		s.metrics.sessionFailed(FailUnavailable)
		c.sendError(signaling.CodeUnavailable, "", "host %s is not connected to this rendezvous instance, and this instance cannot reach Redis, where the instances share their hosts, to find it on another one; retry in a few seconds (hosts connected to this instance still work); if it persists, the operator should check Redis", m.HostID)
		return
	}
	if inst == "" || inst == s.cluster.id() {
		s.mu.Lock()
		if t, ok := s.known.get(m.HostID); ok && t.After(seen) {
			seen = t
		}
		s.mu.Unlock()
		if !seen.IsZero() {
			s.metrics.sessionFailed(FailHostOffline)
			c.sendError(signaling.CodeHostOffline, "", "host %s is not online (last seen %s ago); check that its agent is running and can reach this rendezvous", m.HostID, ago(time.Since(seen)))
		} else {
			s.metrics.sessionFailed(FailUnknownHost)
			c.sendError(signaling.CodeUnknownHost, "", "no host with ID %s is known to this rendezvous; check the ID (run `host id` on the host) and that the host uses this rendezvous", m.HostID)
		}
		return
	}

	id := newSessionID()
	r := &relay{inst: inst, session: id, opened: make(chan *signaling.Message, 1)}
	reply := r.opened
	host := &conn{s: s, role: roleHost, hostID: m.HostID, relay: r, sessions: make(map[string]*pairing),
		log: c.log.With("host_id", m.HostID, "instance", inst)}
	sess := &pairing{id: id, host: host, viewer: c, pending: true, created: time.Now()}
	sess.timer = time.AfterFunc(s.cfg.PendingTimeout, func() { s.expire(sess) })
	s.mu.Lock()
	s.sessions[id] = sess
	host.sessions[id] = sess
	c.sessions[id] = sess
	host.pending++
	s.mu.Unlock()
	s.cluster.publish(inst, &envelope{Kind: kindOpen, Session: id, HostID: m.HostID, IP: c.ip, Addr: c.remote})

	t := time.NewTimer(clusterOpenTimeout)
	defer t.Stop()
	var answer *signaling.Message
	select {
	case answer = <-reply:
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.opened = nil
	if s.sessions[id] != sess {
		c.sendError(signaling.CodeUnavailable, "", "the session with host %s ended while it was being opened on another rendezvous instance; try again", m.HostID)
		return
	}
	switch {
	case answer == nil:
		s.removeLocked(sess)
		// In case the open arrived late: the host's instance forgets the session.
		host.send(&signaling.Message{Type: signaling.TypeBye, Session: id, Code: signaling.ByeExpired, Reason: "the viewer's rendezvous instance gave up waiting"})
		s.metrics.sessionFailed(FailUnavailable)
		c.log.Warn("the instance holding a host did not answer an open request", "host_id", m.HostID, "instance", inst, "timeout", clusterOpenTimeout)
		c.sendError(signaling.CodeUnavailable, "", "host %s is connected to another rendezvous instance (%s), which did not answer within %v; retry in a few seconds (if that instance is gone, the host reconnects to another one)", m.HostID, inst, clusterOpenTimeout)
	case answer.Type == signaling.TypeSession:
		c.send(&signaling.Message{Type: signaling.TypeSession, Session: id, HostID: m.HostID, ICEServers: s.iceFor(c, id)})
		c.log.Info("session created", "session", id, "host_id", m.HostID, "instance", inst, "version", m.Version)
	default: // the host's instance refused: pass on its reason
		s.removeLocked(sess)
		c.send(&signaling.Message{Type: signaling.TypeError, Code: answer.Code, Message: answer.Message})
	}
}

// fromBus handles an envelope from another instance.
func (s *Server) fromBus(e *envelope, m *signaling.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch e.Kind {
	case kindOpen:
		if s.sessions[e.Session] != nil {
			return
		}
		viewer := &conn{s: s, role: roleViewer, ip: e.IP, remote: e.Addr, sessions: make(map[string]*pairing),
			relay: &relay{inst: e.From, session: e.Session},
			log:   s.log.With("remote", e.Addr, "role", "viewer", "instance", e.From)}
		s.openLocked(viewer, s.hosts[e.HostID], &signaling.Message{Type: signaling.TypeConnect, HostID: e.HostID}, e.Session)
	case kindReplaced:
		h := s.hosts[e.HostID]
		if h == nil || h.isClosing() {
			return // gone, or already closing (the message and a renewal that found the key taken)
		}
		// Counted here, where the older connection closes, as on one instance: so the sum of
		// "replaced" over instances is the number of connections a newer registration closed.
		// The instance of the new registration has counted it as "registered" (it learns of
		// the older connection only later, from its claim in Redis, if at all).
		s.metrics.registration("replaced")
		h.log.Info("host registered again on another instance; closing its connection here", "instance", e.From, "new_remote", e.Addr)
		h.sendError(signaling.CodeReplaced, "", "another agent with the same host key registered from %s; this connection is closed (run one agent per key)", e.Addr)
		h.closeWith(closeReplaced, "replaced by a newer registration of the same host", false)
	case kindMsg:
		sess := s.sessions[e.Session]
		if sess == nil {
			// Tell the other end's instance, unless this is an ending itself.
			if m.Type != signaling.TypeBye && m.Type != signaling.TypeError {
				gone := &conn{s: s, log: s.log, relay: &relay{inst: e.From, session: e.Session}}
				gone.sendError(signaling.CodeUnknownSession, e.Session, "session %s is not open on the other end's rendezvous instance (it ended or expired); start a new one", e.Session)
			}
			return
		}
		remote, local := sess.host, sess.viewer
		if remote.relay == nil {
			remote, local = sess.viewer, sess.host
		}
		if remote.relay == nil || remote.relay.inst != e.From {
			return // a local session, or one with another instance: not this sender's to touch
		}
		if ch := remote.relay.opened; ch != nil && (m.Type == signaling.TypeSession || m.Type == signaling.TypeError) {
			remote.relay.opened = nil
			ch <- m
			return
		}
		switch {
		case m.Type == signaling.TypeError:
			if m.Code == signaling.CodeUnknownSession {
				s.removeLocked(sess)
			}
			m.Session = sess.id
			local.send(m)
		case m.Type == signaling.TypeBye && m.Code != "":
			// The other instance ended the session (peer gone, expired, shutting down).
			if sess.pending && countsHere(sess) {
				s.metrics.sessionFailed(failBye(m.Code))
			}
			s.removeLocked(sess)
			local.send(m)
		case m.Type == signaling.TypeSession:
			// Only an answer to an open request, handled above.
		default:
			s.routeLocked(remote, m)
		}
	}
}

// remoteInstances lists the instances that hold the other end of a session here.
func (s *Server) remoteInstances() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := make(map[string]struct{})
	for _, sess := range s.sessions {
		for _, end := range []*conn{sess.host, sess.viewer} {
			if end.relay != nil {
				set[end.relay.inst] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(set))
	for inst := range set {
		out = append(out, inst)
	}
	return out
}

// instanceGone ends the sessions whose other end was on an instance that is gone: their local
// ends get bye peer_gone, as when the other end's WebSocket drops on one instance.
func (s *Server) instanceGone(inst string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		remote, local := sess.host, sess.viewer
		if remote.relay == nil {
			remote, local = sess.viewer, sess.host
		}
		if remote.relay == nil || remote.relay.inst != inst {
			continue
		}
		if sess.pending && countsHere(sess) {
			s.metrics.sessionFailed(FailViewerGone)
		}
		s.removeLocked(sess)
		local.send(&signaling.Message{Type: signaling.TypeBye, Session: sess.id, Code: signaling.ByePeerGone,
			Reason: "the rendezvous instance of the " + remote.role.String() + " is gone"})
	}
}

// redisMetricOp names a cluster round trip (claim, refresh, locate, publish) by the metrics'
// operation label (docs/metrics.md).
func redisMetricOp(op string) string {
	switch op {
	case "claim", "refresh":
		return RedisOpPresence
	case "locate":
		return RedisOpLookup
	case "publish":
		return RedisOpPublish
	}
	return RedisOpOther
}
