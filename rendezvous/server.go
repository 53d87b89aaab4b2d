// Package rendezvous is the deskport signaling service and its clients. Hosts keep a WebSocket
// open to the server and prove their key; viewers ask for a host by ID; the server creates a
// session and relays offer, answer, candidates and bye between the two ends, treating SDP as
// opaque text. It never decides who may control a host: that is the end-to-end authentication
// that runs over the peer connection afterwards.
//
// The wire format is package signaling; docs/signaling.md describes the protocol and its limits.
package rendezvous

import (
	"container/list"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/version"
	"github.com/deskport/deskport/signaling"
)

const (
	// sendQueue bounds the messages queued for one connection.
	sendQueue = 256
	// handshakeReadLimit bounds messages before a host has registered.
	handshakeReadLimit = 4096
	// maxRateViolations is how many messages a connection may have dropped for exceeding its
	// rate before it is closed.
	maxRateViolations = 20
	// closeReplaced is the WebSocket close code for a host connection replaced by a newer one.
	closeReplaced websocket.StatusCode = 4001
)

type role int

const (
	roleHost role = iota
	roleViewer
)

func (r role) String() string {
	if r == roleHost {
		return "host"
	}
	return "viewer"
}

// Server is the rendezvous. Create it with New, mount Handler or call Serve, and Close it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	names []string // cfg.PublicHosts in CanonicalHost form

	mu       sync.Mutex
	closed   bool
	hosts    map[string]*conn // online hosts by ID
	known    *lastSeen
	sessions map[string]*pairing
	perIP    map[string]int
	conns    map[*conn]struct{}
	wg       sync.WaitGroup // one per WebSocket handler

	done      chan struct{}
	closeOnce sync.Once
	metrics   *Metrics

	// cluster shares hosts and routes sessions with the other instances (Config.Redis); nil
	// for a single instance (cluster.go).
	cluster cluster

	// testHookRegistered and testHookOffline, when set, are called after a host registers
	// and after a host's connection is gone from the registry.
	testHookRegistered func(hostID string)
	testHookOffline    func(hostID string)
}

type conn struct {
	*wsConn
	s       *Server
	role    role
	ip      string // the client address used for the per-IP cap
	remote  string // the address reported to hosts as viewerAddr
	reach   string // the host name the client reached the rendezvous at (its Host header)
	log     *slog.Logger
	limiter *rate.Limiter
	drops   int
	limit   int64 // the current message size limit; only the reader uses it

	// Guarded by s.mu.
	hostID   string
	sessions map[string]*pairing
	pending  int // host: sessions waiting for this host's answer

	// relay, when set, makes this conn the stand-in for an end held by another instance:
	// what is sent to it goes over the cluster bus (cluster.go).
	relay *relay
}

// pairing is one signaling session as the rendezvous keeps it: a host and a viewer introduced
// to each other under a session ID until the host answers, one of them leaves or it expires.
type pairing struct {
	id      string
	host    *conn
	viewer  *conn
	pending bool
	created time.Time
	offered time.Time // the viewer's first offer, for the offer→answer latency
	timer   *time.Timer
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var names []string
	for _, n := range cfg.PublicHosts {
		names = append(names, signaling.CanonicalHost(n))
	}
	s := &Server{
		cfg:      cfg,
		names:    names,
		log:      cfg.Logger,
		hosts:    make(map[string]*conn),
		known:    newLastSeen(cfg.MaxKnownHosts),
		sessions: make(map[string]*pairing),
		perIP:    make(map[string]int),
		conns:    make(map[*conn]struct{}),
		done:     make(chan struct{}),
	}
	s.metrics = newMetrics(s)
	if cfg.Redis != "" {
		if err := s.joinCluster(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Metrics are the server's Prometheus series; serve Metrics().Handler() on a listener of its
// own (the rendezvous command's --metrics-listen), not on the public one.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler serves GET /v1/host and GET /v1/viewer (WebSocket), GET /healthz and GET /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/host", func(w http.ResponseWriter, r *http.Request) { s.serveWS(w, r, roleHost) })
	mux.HandleFunc("GET /v1/viewer", func(w http.ResponseWriter, r *http.Request) { s.serveWS(w, r, roleViewer) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { s.serveHealth(w, false) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.serveHealth(w, true) })
	if s.cfg.Web != nil {
		mux.Handle("GET /", s.cfg.Web)
	}
	return mux
}

// Serve serves Handler on ln until ctx is done or Close is called, then shuts down: it stops
// accepting, closes every WebSocket with status 1001 (clients reconnect) and returns once all
// its goroutines have ended. It closes the Server; a nil error means a requested shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case <-s.done:
	case err = <-errc:
		err = fmt.Errorf("rendezvous: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if e := srv.Shutdown(sctx); e != nil {
		srv.Close()
	}
	s.Close()
	if err == nil {
		<-errc
	}
	return err
}

// Close closes every WebSocket (status 1001, "rendezvous is shutting down") and waits for their
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		for c := range s.conns {
			c.closeWith(websocket.StatusGoingAway, "rendezvous is shutting down", false)
		}
		s.mu.Unlock()
		s.log.Info("rendezvous shutting down")
	})
	s.wg.Wait()
	if s.cluster != nil {
		s.cluster.close()
	}
	return nil
}

type health struct {
	// OK is false only while the server shuts down: an instance that lost Redis still serves
	// the hosts connected to it, so a balancer must not take it out (docs/cluster.md).
	OK bool `json:"ok"`
	// Ready is OK and, with --redis, Redis reachable: new hosts and viewers are better served
	// by an instance that can see the others. /readyz answers 503 while it is false.
	Ready bool `json:"ready"`
	// Redis is "up" or "down" with --redis, absent without.
	Redis    string `json:"redis,omitempty"`
	Hosts    int    `json:"hosts"`
	Sessions int    `json:"sessions"`
	// Build says which build answers (the same as --version), so an operator or a monitor can
	// tell which release a rendezvous runs without a shell on it.
	Build version.Info `json:"build"`
}

// serveHealth answers /healthz (ready false) and /readyz (ready true) with the same JSON. The
// first fails (503) only while the server shuts down, the second also while Redis is down.
func (s *Server) serveHealth(w http.ResponseWriter, ready bool) {
	redisUp := true
	s.mu.Lock()
	h := health{OK: !s.closed, Hosts: len(s.hosts), Sessions: len(s.sessions), Build: version.Get()}
	cl := s.cluster
	s.mu.Unlock()
	if cl != nil {
		redisUp = cl.reachable()
		h.Redis = "down"
		if redisUp {
			h.Redis = "up"
		}
	}
	h.Ready = h.OK && redisUp
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !h.OK || (ready && !h.Ready) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}

// clientAddr returns the client's limit key (for the per-address caps; see limitKey) and
// address (reported to hosts).
func (s *Server) clientAddr(r *http.Request) (ip, addr string) {
	if s.cfg.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				a = a.Unmap().WithZone("")
				return limitKey(a), a.String()
			}
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
		return limitKey(ap.Addr()), ap.String()
	}
	return r.RemoteAddr, ""
}

// limitKey is what the per-address caps count by: the IPv4 address, or the IPv6 /64 around the
// address. One IPv6 subscriber usually holds a whole /64 (often more), so counting single IPv6
// addresses would give each of them 2^64 fresh addresses to spend.
func limitKey(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// originAllowed lets native clients (no Origin header), same-host pages and the configured
// origins open a WebSocket; any other web page is refused so that it cannot use a visitor's
// browser as a host or viewer.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, role role) {
	ip, addr := s.clientAddr(r)
	log := s.log.With("remote", addr, "role", role.String())
	if addr == "" {
		log = s.log.With("remote", ip, "role", role.String())
	}
	if !s.originAllowed(r) {
		log.Info("refused a WebSocket from a foreign origin", "origin", r.Header.Get("Origin"))
		s.metrics.reject(LimitAllowedOrigins)
		http.Error(w, "deskport rendezvous: origin "+r.Header.Get("Origin")+" is not allowed; the operator can add it to the allowed origins", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "deskport rendezvous: shutting down; retry in a moment", http.StatusServiceUnavailable)
		return
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		s.mu.Unlock()
		log.Warn("refused a connection over the per-address cap", "limit", s.cfg.MaxConnsPerIP)
		s.metrics.reject(LimitConnsPerAddress)
		http.Error(w, fmt.Sprintf("deskport rendezvous: too many connections from %s (limit %d); close other deskport agents or viewers on this address, or ask the operator to raise the limit", ip, s.cfg.MaxConnsPerIP), http.StatusTooManyRequests)
		return
	}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
		s.wg.Done()
	}()

	heard := new(atomic.Int64) // when the peer last pinged (wsConn.ping skips ours then)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool { heard.Store(time.Now().UnixNano()); return true }})
	if err != nil {
		log.Debug("WebSocket upgrade failed", "err", err)
		return
	}
	c := &conn{
		wsConn:   newWSConn(ws, log, sendQueue, s.cfg.WriteTimeout, s.cfg.PingInterval, s.cfg.ReadTimeout),
		s:        s,
		role:     role,
		ip:       ip,
		remote:   addr,
		reach:    hostOnly(r.Host),
		log:      log,
		limiter:  rate.NewLimiter(rate.Limit(s.cfg.MessageRate), s.cfg.MessageBurst),
		sessions: make(map[string]*pairing),
	}
	c.trustPeerPings(heard)
	s.mu.Lock()
	if s.closed {
		c.closeWith(websocket.StatusGoingAway, "rendezvous is shutting down", false)
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	log.Debug("connected")
	if role == roleHost {
		c.serveHost(r)
	} else {
		s.metrics.viewers.Inc()
		c.setLimit(s.cfg.MaxMessageBytes)
		c.serveLoop()
		s.metrics.viewers.Dec()
	}
	c.closeWith(websocket.StatusNormalClosure, "", true)
	s.drop(c)
	c.shutdown()
	log.Debug("disconnected")
}

// setLimit sets the largest message the connection may send. The library's own limit sits one
// byte above, so that it is this code that refuses an oversized message, with a close reason
// that names the limit.
func (c *conn) setLimit(n int64) {
	c.limit = n
	c.ws.SetReadLimit(n + 1)
}

// read returns the next text message of the connection.
func (c *conn) read() ([]byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.closeWith(websocket.StatusUnsupportedData, "deskport signaling uses text messages only", false)
		return nil, errors.New("binary message")
	}
	b, err := io.ReadAll(io.LimitReader(r, c.limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.limit {
		c.log.Info("closed a connection that sent an oversized message", "limit", c.limit)
		c.s.metrics.reject(LimitMessageBytes)
		c.closeWith(websocket.StatusMessageTooBig, fmt.Sprintf("message exceeds the %d-byte limit", c.limit), false)
		return nil, errors.New("message too big")
	}
	return b, nil
}

// send queues m for the connection. It never blocks, so it may be called with s.mu held.
func (c *conn) send(m *signaling.Message) {
	if c.relay != nil {
		c.relay.send(c, m)
		return
	}
	b, err := signaling.Encode(m)
	if err != nil {
		c.log.Error("BUG: refusing to send an invalid message", "type", m.Type, "err", err)
		return
	}
	c.enqueue(b)
}

func (c *conn) sendError(code, session, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > signaling.MaxErrorMessageBytes {
		msg = msg[:signaling.MaxErrorMessageBytes]
	}
	c.send(&signaling.Message{Type: signaling.TypeError, Code: code, Session: session, Message: msg})
}

func (c *conn) serveHost(r *http.Request) {
	c.setLimit(handshakeReadLimit)
	nonce := make([]byte, signaling.NonceBytes)
	rand.Read(nonce)
	// The challenge names the server as it knows itself, so that a host that dialled another
	// name (a wrong URL, or a rendezvous relaying this one's challenge) stops before it signs.
	names := c.s.names
	if len(names) == 0 {
		names = []string{signaling.CanonicalHost(r.Host)}
	}
	challenge := &signaling.Message{Type: signaling.TypeChallenge, Nonce: base64.StdEncoding.EncodeToString(nonce), Names: names}
	if challenge.Validate() != nil {
		challenge.Names = nil // a Host header outside the name syntax: announce nothing
	}
	c.send(challenge)

	timer := time.AfterFunc(c.s.cfg.HandshakeTimeout, func() {
		c.log.Info("closed a host that did not register in time", "timeout", c.s.cfg.HandshakeTimeout)
		c.s.metrics.reject(LimitHandshakeTimeout)
		c.s.metrics.registration("timeout")
		c.sendError(signaling.CodeBadRequest, "", "no register message within %v of connecting", c.s.cfg.HandshakeTimeout)
		c.closeWith(websocket.StatusPolicyViolation, "registration timed out", false)
	})
	b, err := c.read()
	stopped := timer.Stop()
	if err != nil || !stopped {
		return
	}
	m, err := signaling.Decode(b)
	if err != nil || m.Type != signaling.TypeRegister {
		c.log.Info("closed a host that sent a bad register message", "err", err)
		c.s.metrics.registration("bad_message")
		c.sendError(signaling.CodeBadRequest, "", "the first message on /v1/host must be a valid register message (%v); update the host agent", err)
		c.closeWith(websocket.StatusPolicyViolation, "bad register message", false)
		return
	}
	pub, _ := base64.StdEncoding.DecodeString(m.PublicKey)
	sig, _ := base64.StdEncoding.DecodeString(m.Signature)
	ok := false
	for _, name := range c.s.proofNames(r.Host) {
		if ed25519.Verify(ed25519.PublicKey(pub), signaling.RegisterProof(name, nonce), sig) {
			ok = true
			break
		}
	}
	id := identity.HostID(pub)
	if !ok {
		c.log.Warn("refused a host registration with a bad signature", "host_id", id, "host_header", r.Host)
		c.s.metrics.registration("bad_signature")
		c.sendError(signaling.CodeBadSignature, "", "the registration signature for host %s does not verify: it must sign this server's challenge for the host name %q; check that the agent's rendezvous URL names this server as clients reach it", id, names[0])
		c.closeWith(websocket.StatusPolicyViolation, "bad registration signature", false)
		return
	}
	c.log = c.log.With("host_id", id)

	s := c.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	c.hostID = id
	old := s.hosts[id]
	s.hosts[id] = c
	s.known.touch(id, time.Now())
	if s.cluster != nil {
		s.cluster.hostUp(id, c.remote)
	}
	// Sent under the lock so that nothing routed to this host can overtake it.
	c.send(&signaling.Message{Type: signaling.TypeRegistered, HostID: id, ICEServers: s.iceFor(c, "")})
	s.mu.Unlock()
	if old != nil {
		s.metrics.registration("replaced")
		c.log.Info("host registered again; closing its older connection", "old_remote", old.remote, "version", m.Version)
		old.sendError(signaling.CodeReplaced, "", "another agent with the same host key registered from %s; this connection is closed (run one agent per key)", c.remote)
		old.closeWith(closeReplaced, "replaced by a newer registration of the same host", false)
	} else {
		s.metrics.registration("registered")
		c.log.Info("host online", "version", m.Version)
	}
	if hook := s.testHookRegistered; hook != nil {
		hook(id)
	}
	c.setLimit(s.cfg.MaxMessageBytes)
	c.serveLoop()
}

// proofNames lists the host names a registration proof may sign. Without PublicHosts it is the
// request's Host header, which whoever opens the WebSocket chooses: a rendezvous that relays a
// host's registration sets it to its own name and the proof verifies. With PublicHosts only
// those names verify; the Host header can add only a port, to a name configured without one.
func (s *Server) proofNames(hostHeader string) []string {
	if len(s.names) == 0 {
		return []string{hostHeader}
	}
	var port string
	if _, p, err := net.SplitHostPort(hostHeader); err == nil && p != "80" && p != "443" {
		port = p
	}
	out := make([]string, 0, 2*len(s.names))
	for _, n := range s.names {
		out = append(out, n)
		if _, _, err := net.SplitHostPort(n); err != nil && port != "" {
			out = append(out, net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(n, "["), "]"), port))
		}
	}
	return out
}

// serveLoop reads and handles messages until the connection ends.
func (c *conn) serveLoop() {
	for {
		b, err := c.read()
		if err != nil {
			return
		}
		if !c.limiter.Allow() {
			c.drops++
			c.s.metrics.reject(LimitMessageRate)
			if c.drops > maxRateViolations {
				c.s.metrics.reject(LimitMessageRateClose)
				c.log.Warn("closed a connection that kept exceeding the message rate", "rate", c.s.cfg.MessageRate, "burst", c.s.cfg.MessageBurst)
				c.sendError(signaling.CodeRateLimited, "", "closing: more than %d messages were dropped for exceeding %v messages/s", maxRateViolations, c.s.cfg.MessageRate)
				c.closeWith(websocket.StatusPolicyViolation, "message rate limit exceeded repeatedly", false)
				return
			}
			c.sendError(signaling.CodeRateLimited, "", "message dropped: more than %v messages/s (burst %d); slow down", c.s.cfg.MessageRate, c.s.cfg.MessageBurst)
			continue
		}
		m, err := signaling.Decode(b)
		if err != nil {
			c.s.metrics.message("invalid")
			c.log.Debug("bad message", "err", err)
			c.sendError(signaling.CodeBadRequest, "", "message refused: %v", err)
			continue
		}
		c.s.metrics.message(string(m.Type))
		c.log.Debug("message", "type", m.Type, "session", m.Session)
		switch m.Type {
		case signaling.TypeConnect:
			if c.role != roleViewer {
				c.sendError(signaling.CodeBadRequest, "", "connect is only accepted on /v1/viewer")
				continue
			}
			c.s.connect(c, m)
		case signaling.TypeOffer, signaling.TypeAnswer, signaling.TypeCandidate, signaling.TypeBye:
			c.s.route(c, m)
		default:
			c.sendError(signaling.CodeBadRequest, "", "a %s may not send %q messages", c.role, m.Type)
		}
	}
}

func (s *Server) connect(c *conn, m *signaling.Message) {
	s.mu.Lock()
	if len(c.sessions) >= s.cfg.MaxSessionsPerViewerConn {
		s.metrics.reject(LimitSessionsPerConnection)
		s.metrics.sessionFailed(FailSessionsPerConnection)
		c.sendError(signaling.CodeTooManySessions, "", "this connection already has %d sessions open; close one or open another connection", len(c.sessions))
		s.mu.Unlock()
		return
	}
	h := s.hosts[m.HostID]
	if h == nil && s.cluster != nil {
		s.mu.Unlock()
		s.connectRemote(c, m) // the host may be on another instance (cluster.go)
		return
	}
	defer s.mu.Unlock()
	s.openLocked(c, h, m, newSessionID())
}

func newSessionID() string {
	var raw [16]byte
	rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// openLocked creates session id between the viewer c and the host h (nil if the host is not
// online here), or tells c why not. s.mu must be held. On a cluster, c may be the stand-in of a
// viewer on another instance: every session to a host passes through the instance holding the
// host's socket, so the pending limits below hold across instances.
func (s *Server) openLocked(c *conn, h *conn, m *signaling.Message, id string) {
	if h == nil {
		if t, ok := s.known.get(m.HostID); ok {
			s.metrics.sessionFailed(FailHostOffline)
			c.sendError(signaling.CodeHostOffline, "", "host %s is not online (last seen %s ago); check that its agent is running and can reach this rendezvous", m.HostID, ago(time.Since(t)))
		} else {
			s.metrics.sessionFailed(FailUnknownHost)
			c.sendError(signaling.CodeUnknownHost, "", "no host with ID %s has registered with this rendezvous since it started; check the ID (run `host id` on the host) and that the host uses this rendezvous", m.HostID)
		}
		return
	}
	// Host IDs are not secret, so the pending cap must not let one address lock everyone out:
	// each address gets at most maxPendingPerIP waiting attempts per host, and when the host is
	// full the oldest attempt of the address holding the most is evicted for the newcomer.
	byIP := map[string][]*pairing{}
	for _, other := range h.sessions {
		if other.pending {
			byIP[other.viewer.ip] = append(byIP[other.viewer.ip], other)
		}
	}
	// One address may hold at most half of a host's waiting attempts.
	maxPendingPerIP := max(1, s.cfg.MaxPendingPerHost/2)
	if len(byIP[c.ip]) >= maxPendingPerIP {
		c.log.Info("refused a session over the per-address pending cap", "host_id", h.hostID, "limit", maxPendingPerIP)
		s.metrics.reject(LimitPendingPerAddress)
		s.metrics.sessionFailed(FailPendingPerAddress)
		c.sendError(signaling.CodeTooManySessions, "", "your address already has %d connection attempts to host %s waiting for its answer; finish or close them first", len(byIP[c.ip]), m.HostID)
		return
	}
	if h.pending >= s.cfg.MaxPendingPerHost {
		var victim *pairing
		for _, list := range byIP {
			for _, cand := range list {
				if victim == nil || len(list) > len(byIP[victim.viewer.ip]) ||
					(len(list) == len(byIP[victim.viewer.ip]) && cand.created.Before(victim.created)) {
					victim = cand
				}
			}
		}
		if victim == nil {
			s.metrics.reject(LimitPendingPerHost)
			s.metrics.sessionFailed(FailPendingPerHost)
			c.sendError(signaling.CodeTooManySessions, "", "host %s already has %d connection attempts waiting for its answer; try again in a few seconds", m.HostID, h.pending)
			return
		}
		s.removeLocked(victim)
		s.metrics.reject(LimitPendingEvicted)
		s.metrics.sessionFailed(FailEvicted)
		c.log.Info("evicted the oldest waiting session of the busiest address", "host_id", h.hostID, "session", victim.id)
		victim.viewer.send(&signaling.Message{Type: signaling.TypeBye, Session: victim.id, Code: signaling.ByeExpired, Reason: "too many connection attempts are waiting for this host; try again"})
	}
	sess := &pairing{id: id, host: h, viewer: c, pending: true, created: time.Now()}
	sess.timer = time.AfterFunc(s.cfg.PendingTimeout, func() { s.expire(sess) })
	s.sessions[sess.id] = sess
	h.sessions[sess.id] = sess
	c.sessions[sess.id] = sess
	h.pending++
	s.metrics.sessionStarted()
	var ice []ICEServer
	if c.relay == nil { // a viewer on another instance gets that instance's servers
		ice = s.iceFor(c, sess.id)
	}
	c.send(&signaling.Message{Type: signaling.TypeSession, Session: sess.id, HostID: h.hostID, ICEServers: ice})
	c.log.Info("session created", "session", sess.id, "host_id", h.hostID, "version", m.Version)
}

func (s *Server) expire(sess *pairing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.id] != sess || !sess.pending {
		return
	}
	s.removeLocked(sess)
	if countsHere(sess) {
		s.metrics.sessionFailed(FailExpired)
	}
	sess.host.log.Info("session expired without an answer", "session", sess.id, "timeout", s.cfg.PendingTimeout)
	reason := fmt.Sprintf("the host did not answer within %v", s.cfg.PendingTimeout)
	sess.viewer.send(&signaling.Message{Type: signaling.TypeBye, Session: sess.id, Code: signaling.ByeExpired, Reason: reason})
	sess.host.send(&signaling.Message{Type: signaling.TypeBye, Session: sess.id, Code: signaling.ByeExpired, Reason: reason})
}

// removeLocked forgets a session. s.mu must be held.
func (s *Server) removeLocked(sess *pairing) {
	sess.timer.Stop()
	delete(s.sessions, sess.id)
	delete(sess.host.sessions, sess.id)
	delete(sess.viewer.sessions, sess.id)
	if sess.pending {
		sess.pending = false
		sess.host.pending--
	}
}

// route forwards a session message from c to the other end of its session, after checking
// that c is an end of it and that the message makes sense from that end.
func (s *Server) route(c *conn, m *signaling.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routeLocked(c, m)
}

// routeLocked is route with s.mu held.
func (s *Server) routeLocked(c *conn, m *signaling.Message) {
	sess := s.sessions[m.Session]
	if sess == nil || (sess.host != c && sess.viewer != c) {
		// The same answer for "no such session" and "not yours", so that it reveals nothing.
		c.sendError(signaling.CodeUnknownSession, m.Session, "session %s is not open on this connection (it ended, expired, or was never yours); start a new one", m.Session)
		return
	}
	fromHost := sess.host == c
	peer := sess.host
	if fromHost {
		peer = sess.viewer
	}
	if m.ViewerAddr != "" || m.ICEServers != nil || m.Code != "" {
		c.sendError(signaling.CodeBadRequest, m.Session, "viewerAddr, iceServers and a bye code are set by the rendezvous only")
		return
	}
	switch m.Type {
	case signaling.TypeOffer:
		if fromHost && sess.pending {
			c.sendError(signaling.CodeBadRequest, m.Session, "the viewer makes the first offer; answer it")
			return
		}
		if !fromHost && sess.pending && sess.offered.IsZero() {
			sess.offered = time.Now()
		}
		if !fromHost && peer.relay == nil { // else the host's instance adds them
			m.ViewerAddr = c.remote
			m.ICEServers = s.iceFor(peer, sess.id)
		}
	case signaling.TypeAnswer:
		if !fromHost && sess.pending {
			c.sendError(signaling.CodeBadRequest, m.Session, "only the host answers the first offer")
			return
		}
		if fromHost && sess.pending {
			sess.pending = false
			sess.host.pending--
			sess.timer.Stop()
			if countsHere(sess) {
				s.metrics.sessionAnswered(sess.offered, time.Now())
			}
		}
	case signaling.TypeBye:
		if sess.pending && countsHere(sess) {
			s.metrics.sessionFailed(map[bool]string{true: FailHostBye, false: FailViewerBye}[fromHost])
		}
		s.removeLocked(sess)
		c.log.Info("session ended", "session", sess.id, "by", c.role.String(), "reason", m.Reason)
	}
	peer.send(m)
}

// iceFor is the ICE server list for one end of a session ("" before there is one). The built-in
// servers are named by the address that end reached the rendezvous at: a host on the LAN and a
// viewer across the internet each get a name they can reach.
func (s *Server) iceFor(c *conn, session string) []ICEServer {
	list := s.cfg.ICE.servers(s.cfg.ICEServers, c.reach, session, time.Now())
	if len(list) == 0 {
		return nil
	}
	return list
}

// drop forgets a connection that went away and tells the other end of each of its sessions.
func (s *Server) drop(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.hostID != "" {
		if s.hosts[c.hostID] == c {
			delete(s.hosts, c.hostID)
			if s.cluster != nil {
				s.cluster.hostDown(c.hostID)
			}
			c.log.Info("host offline")
			if hook := s.testHookOffline; hook != nil {
				hook(c.hostID)
			}
		}
		s.known.touch(c.hostID, time.Now())
	}
	code, reason := signaling.ByePeerGone, "the "+c.role.String()+" left the rendezvous"
	if s.closed {
		code, reason = signaling.ByeShutdown, "the rendezvous is shutting down"
	}
	for _, sess := range c.sessions {
		if sess.pending && countsHere(sess) {
			s.metrics.sessionFailed(failGone(c, s.closed))
		}
		s.removeLocked(sess)
		peer := sess.host
		if peer == c {
			peer = sess.viewer
		}
		peer.send(&signaling.Message{Type: signaling.TypeBye, Session: sess.id, Code: code, Reason: reason})
	}
}

// ago formats a duration the way a person reads "last seen 3m ago".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// lastSeen remembers when each host was last online, evicting the least recently seen.
type lastSeen struct {
	max   int
	order *list.List // front = most recent; values are *seenEntry
	byID  map[string]*list.Element
}

type seenEntry struct {
	id string
	t  time.Time
}

func newLastSeen(max int) *lastSeen {
	return &lastSeen{max: max, order: list.New(), byID: make(map[string]*list.Element)}
}

func (l *lastSeen) touch(id string, t time.Time) {
	if e, ok := l.byID[id]; ok {
		e.Value.(*seenEntry).t = t
		l.order.MoveToFront(e)
		return
	}
	l.byID[id] = l.order.PushFront(&seenEntry{id, t})
	for l.order.Len() > l.max {
		e := l.order.Back()
		l.order.Remove(e)
		delete(l.byID, e.Value.(*seenEntry).id)
	}
}

func (l *lastSeen) get(id string) (time.Time, bool) {
	if e, ok := l.byID[id]; ok {
		return e.Value.(*seenEntry).t, true
	}
	return time.Time{}, false
}
