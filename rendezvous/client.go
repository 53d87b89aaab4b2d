package rendezvous

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/signaling"
)

// Client-side timings. The server's limits are what matter for abuse; these only decide how
// fast a client notices a dead rendezvous.
const (
	clientHandshakeTimeout = 15 * time.Second
	clientWriteTimeout     = 10 * time.Second
	clientPingInterval     = 25 * time.Second
	clientPongTimeout      = 20 * time.Second
	clientSendQueue        = 64
	sessionRecvQueue       = 256
	defaultVersion         = "deskport/dev"
	defaultMinBackoff      = 500 * time.Millisecond
	defaultMaxBackoff      = 30 * time.Second
)

// HostClient keeps a host registered with a rendezvous and hands it the viewer sessions.
type HostClient struct {
	// URL is the rendezvous base URL, http(s)://host[:port][/prefix]; the client connects to
	// ws(s)://host[:port][/prefix]/v1/host. ws and wss URLs are accepted as they are. Several
	// URLs separated by commas are instances of one rendezvous cluster (docs/cluster.md): Run
	// registers with the first that works and, when its connection fails or drops, moves on to
	// the next one.
	URL string
	// Key is the host's identity key; the host ID is derived from its public half.
	Key ed25519.PrivateKey
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Dialer is the HTTP client used for the WebSocket upgrade; nil means http.DefaultClient.
	Dialer *http.Client
	// Version is reported to the rendezvous; empty means "deskport/dev".
	Version string
	// MinBackoff and MaxBackoff bound the reconnect delay (full jitter, doubling per failed
	// attempt). Defaults 0.5s and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// Run connects, registers and then calls accept, in its own goroutine, for each new viewer
// session, until ctx is done. When the rendezvous goes away it reconnects with jittered
// exponential backoff; sessions already handed to accept keep running (their Recv channel is
// closed, since no more signaling can arrive). Run returns nil when ctx is done, or an error
// that retrying cannot fix: an invalid URL or key, ErrBadSignature, ErrWrongRendezvous. A host
// replaced by another registration of its key (ErrReplaced) logs it and comes back with
// backoff, growing while it keeps being replaced. Before
// returning it waits for every accept call to return, so accept must return once the session
// is over or the caller's context is done.
func (h *HostClient) Run(ctx context.Context, accept func(*Session)) error {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(h.Key) != ed25519.PrivateKeySize {
		return errors.New("rendezvous: HostClient.Key is not an ed25519 private key")
	}
	urls := SplitURLs(h.URL)
	if len(urls) == 0 {
		return errors.New("rendezvous: no rendezvous URL; give --rendezvous or DESKPORT_RENDEZVOUS")
	}
	wsURLs, signHosts := make([]string, len(urls)), make([]string, len(urls))
	for i, u := range urls {
		var err error
		if wsURLs[i], signHosts[i], err = endpoint(u, "/v1/host"); err != nil {
			return err
		}
	}
	version := h.Version
	if version == "" {
		version = defaultVersion
	}
	if err := signaling.CheckVersion(version); err != nil {
		return fmt.Errorf("rendezvous: HostClient.Version: %w", err)
	}
	minB, maxB := h.MinBackoff, h.MaxBackoff
	if minB <= 0 {
		minB = defaultMinBackoff
	}
	if maxB <= 0 {
		maxB = defaultMaxBackoff
	}
	pub := h.Key.Public().(ed25519.PublicKey)
	hostID := identity.HostID(pub)
	log = log.With("host_id", hostID)

	var wg sync.WaitGroup // accept calls
	defer wg.Wait()
	spawn := func(s *Session) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			accept(s)
		}()
	}
	attempt, replaced, idx := 0, 0, 0
	for {
		registered, err := h.runOnce(ctx, log.With("rendezvous", urls[idx]), urls[idx], wsURLs[idx], signHosts[idx], version, spawn)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrBadSignature) || errors.Is(err, ErrWrongRendezvous) || errors.Is(err, errPermanent) {
			log.Error("the rendezvous refused this host; not retrying", "err", err)
			return fmt.Errorf("rendezvous: %w", err)
		}
		if errors.Is(err, ErrReplaced) {
			// Another registration of this key took the ID. It may be a second agent with the
			// same key, or someone replaying this host's registration: either way, exiting
			// would leave the ID to the other one for good. Come back, more slowly each time
			// it happens again, so that two agents with one key do not fight at full speed.
			replaced++
			attempt = replaced
			log.Warn("another registration of this host key replaced this agent at the rendezvous; if no other agent runs with this key, the key may have leaked (make a new one with a new --key file)", "err", err, "times", replaced)
		} else if registered {
			attempt, replaced = 0, 0
		}
		if len(urls) > 1 && !errors.Is(err, ErrReplaced) {
			// Fail over: the next instance of the cluster. The backoff below still grows
			// while none of them works.
			idx = (idx + 1) % len(urls)
		}
		step := min(attempt, 16)
		d := time.Duration(rand.Int64N(int64(min(maxB, minB<<step)) + 1))
		if replaced > 0 {
			d = max(d, min(maxB, minB<<min(replaced, 16))/2) // never right away after a replacement
		}
		attempt++
		log.Warn("rendezvous connection failed; will retry", "err", err, "attempt", attempt, "retry_in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

var errPermanent = errors.New("permanent")

// runOnce runs one connection: dial, register, serve until it drops. registered reports
// whether registration succeeded (so that the backoff starts over).
func (h *HostClient) runOnce(ctx context.Context, log *slog.Logger, base, wsURL, signHost, version string, spawn func(*Session)) (registered bool, err error) {
	ws, err := dialWS(ctx, h.Dialer, wsURL, base)
	if err != nil {
		return false, err
	}
	ws.SetReadLimit(signaling.MaxMessageBytes)
	hctx, cancel := context.WithTimeout(ctx, clientHandshakeTimeout)
	defer cancel()
	fail := func(err error) (bool, error) {
		ws.CloseNow()
		return false, err
	}
	m, err := readMsg(hctx, ws, signaling.TypeChallenge)
	if err != nil {
		return fail(err)
	}
	if len(m.Names) > 0 && !signaling.AnswersTo(m.Names, signHost) {
		scheme := "https"
		if u, err := url.Parse(base); err == nil && (u.Scheme == "http" || u.Scheme == "ws") {
			scheme = "http" // the server answered over plain http: suggest the same
		}
		return fail(fmt.Errorf("%w (%s): the server there answers to %s; give --rendezvous that name (e.g. %s://%s), or, if you did not expect this, %s may be relaying another rendezvous", ErrWrongRendezvous, signaling.CanonicalHost(signHost), strings.Join(m.Names, ", "), scheme, m.Names[0], base))
	}
	nonce, _ := base64.StdEncoding.DecodeString(m.Nonce)
	pub := h.Key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(h.Key, signaling.RegisterProof(signHost, nonce))
	reg := &signaling.Message{Type: signaling.TypeRegister, PublicKey: base64.StdEncoding.EncodeToString(pub), Signature: base64.StdEncoding.EncodeToString(sig), Version: version}
	if err := writeMsg(hctx, ws, reg); err != nil {
		return fail(fmt.Errorf("register with the rendezvous at %s: %w", base, err))
	}
	m, err = readMsg(hctx, ws, signaling.TypeRegistered)
	if err != nil {
		return fail(err)
	}
	if want := identity.HostID(pub); m.HostID != want {
		return fail(fmt.Errorf("%w: the rendezvous at %s registered host ID %s, but this key's ID is %s; it is not a deskport rendezvous or it is broken", errPermanent, base, m.HostID, want))
	}
	cancel()

	cc := newClientConn(ws, log)
	cc.ice = m.ICEServers
	cc.onOffer = spawn
	cc.start()
	log.Info("registered with the rendezvous; waiting for viewers")
	select {
	case <-ctx.Done():
		cc.close(websocket.StatusGoingAway, "host agent stopping")
		return true, ctx.Err()
	case <-cc.done:
		cc.close(websocket.StatusNormalClosure, "")
		if r := cc.refusal(); r != nil && (r.Code == signaling.CodeReplaced) {
			return true, r
		}
		return true, fmt.Errorf("lost the connection to the rendezvous at %s: %v; reconnecting (check the rendezvous if this repeats)", base, cc.err)
	}
}

// DialOptions are the optional settings of Dial.
type DialOptions struct {
	// HTTPClient is used for the WebSocket upgrade; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Version is reported to the rendezvous; empty means "deskport/dev".
	Version string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// SplitURLs splits a comma-separated list of rendezvous URLs (the instances of one cluster),
// dropping empty entries and spaces around them.
func SplitURLs(list string) []string {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Dial asks the rendezvous at url for a session with hostID, on a WebSocket of its own. A url
// that lists several instances of one cluster, separated by commas, is tried in order until
// one is reachable. Errors
// match, with errors.Is, ErrHostOffline, ErrUnknownHost, ErrRateLimited, ErrRefused (each a
// *RefusedError carrying the server's message) or ErrRendezvousUnreachable; a malformed host
// ID gives identity.ErrBadHostID. Close the Session to release the connection.
func Dial(ctx context.Context, url, hostID string, opts *DialOptions) (*Session, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	version := opts.Version
	if version == "" {
		version = defaultVersion
	}
	if err := signaling.CheckVersion(version); err != nil {
		return nil, fmt.Errorf("rendezvous: DialOptions.Version: %w", err)
	}
	id, err := identity.ParseHostID(hostID)
	if err != nil {
		return nil, err
	}
	var ws *websocket.Conn
	urls := SplitURLs(url)
	if len(urls) == 0 {
		return nil, errors.New("rendezvous: no rendezvous URL; give --rendezvous or DESKPORT_RENDEZVOUS")
	}
	for _, u := range urls {
		wsURL, _, err := endpoint(u, "/v1/viewer")
		if err != nil {
			return nil, err
		}
		if ws, err = dialWS(ctx, opts.HTTPClient, wsURL, u); err == nil {
			break
		} else if !errors.Is(err, ErrRendezvousUnreachable) || u == urls[len(urls)-1] {
			return nil, err
		}
	}
	ws.SetReadLimit(signaling.MaxMessageBytes)
	if err := writeMsg(ctx, ws, &signaling.Message{Type: signaling.TypeConnect, HostID: id, Version: version}); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("rendezvous: connect to host %s: %w", id, err)
	}
	m, err := readMsg(ctx, ws, signaling.TypeSession)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if m.HostID != id {
		ws.CloseNow()
		return nil, fmt.Errorf("rendezvous: asked for host %s, the rendezvous answered for %s", id, m.HostID)
	}
	log = log.With("session", m.Session, "host_id", id)
	cc := newClientConn(ws, log)
	s := newSession(cc, m.Session, id, m.ICEServers, "", true)
	cc.sessions[s.id] = s
	cc.start()
	log.Debug("session opened")
	return s, nil
}

// endpoint maps a rendezvous base URL to the WebSocket URL of path, and returns the host name
// the registration proof binds.
func endpoint(raw, path string) (wsURL, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("rendezvous: bad rendezvous URL %q: %w; check --rendezvous or DESKPORT_RENDEZVOUS", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", "", fmt.Errorf("rendezvous: the rendezvous URL %q must start with https:// or http://; check --rendezvous or DESKPORT_RENDEZVOUS", raw)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("rendezvous: the rendezvous URL %q has no host; check --rendezvous or DESKPORT_RENDEZVOUS", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u.String(), u.Host, nil
}

func dialWS(ctx context.Context, client *http.Client, wsURL, display string) (*websocket.Conn, error) {
	ws, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: client, CompressionMode: websocket.CompressionDisabled})
	if err == nil {
		return ws, nil
	}
	var status int
	var body string
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			body = strings.TrimSpace(string(b))
		}
		if body == "" {
			body = fmt.Sprintf("the rendezvous at %s answered HTTP %d", display, resp.StatusCode)
		}
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			return nil, &RefusedError{Code: signaling.CodeRateLimited, Message: body}
		case http.StatusForbidden:
			return nil, &RefusedError{Code: "forbidden", Message: body}
		}
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return nil, fmt.Errorf("%w at %s: %w; %s", ErrRendezvousUnreachable, display, err, dialAdvice(err, display, status, body))
}

// readMsg reads one message during a handshake; an error message becomes a *RefusedError.
func readMsg(ctx context.Context, ws *websocket.Conn, want signaling.Type) (*signaling.Message, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		if ce := (websocket.CloseError{}); errors.As(err, &ce) && ce.Reason != "" {
			return nil, fmt.Errorf("the rendezvous closed the connection: %s", ce.Reason)
		}
		return nil, fmt.Errorf("read from the rendezvous: %w", err)
	}
	m, err := signaling.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: the rendezvous sent a bad message: %w", errPermanent, err)
	}
	if m.Type == signaling.TypeError {
		return nil, &RefusedError{Code: m.Code, Message: m.Message}
	}
	if m.Type != want {
		return nil, fmt.Errorf("%w: the rendezvous sent %q, want %q", errPermanent, m.Type, want)
	}
	return m, nil
}

func writeMsg(ctx context.Context, ws *websocket.Conn, m *signaling.Message) error {
	b, err := signaling.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, clientWriteTimeout)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

// clientConn is a host's or viewer's WebSocket after its handshake: one reader goroutine that
// dispatches session messages, and the shared writer and pinger.
type clientConn struct {
	*wsConn
	log     *slog.Logger
	ice     []ICEServer    // host: the list from registered, used when an offer has none
	onOffer func(*Session) // host: called for the first offer of a new session

	mu       sync.Mutex
	sessions map[string]*Session
	ended    map[string]struct{} // host: sessions closed here, so that a late offer does not revive them
	early    earlyCandidates     // host: candidates that arrived before their session's offer
	lastErr  *RefusedError
	now      func() time.Time // the clock for early's expiry; tests replace it

	done chan struct{} // closed when the reader returns
	err  error         // why the reader returned; valid after done
}

func newClientConn(ws *websocket.Conn, log *slog.Logger) *clientConn {
	return &clientConn{
		wsConn:   newWSConn(ws, log, clientSendQueue, clientWriteTimeout, clientPingInterval, clientPongTimeout),
		log:      log,
		sessions: make(map[string]*Session),
		ended:    make(map[string]struct{}),
		done:     make(chan struct{}),
		now:      time.Now,
	}
}

func (c *clientConn) start() { go c.readLoop() }

// close closes the WebSocket (politely unless it is already gone) and waits for all of the
// connection's goroutines.
func (c *clientConn) close(code websocket.StatusCode, reason string) {
	c.closeWith(code, reason, false)
	<-c.done
	c.shutdown()
}

func (c *clientConn) refusal() *RefusedError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *clientConn) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			if ce := (websocket.CloseError{}); errors.As(err, &ce) {
				c.err = fmt.Errorf("closed by the rendezvous (%d %s)", ce.Code, ce.Reason)
			}
			break
		}
		m, err := signaling.Decode(b)
		if err != nil {
			c.log.Warn("ignoring a bad message from the rendezvous", "err", err)
			continue
		}
		c.dispatch(m)
	}
	c.closeWith(websocket.StatusNormalClosure, "", true)
	c.mu.Lock()
	var all []*Session
	for _, s := range c.sessions {
		all = append(all, s)
	}
	c.mu.Unlock()
	for _, s := range all {
		s.end()
	}
}

func (c *clientConn) dispatch(m *signaling.Message) {
	switch m.Type {
	case signaling.TypeOffer, signaling.TypeAnswer, signaling.TypeCandidate, signaling.TypeBye, signaling.TypeError:
	default:
		c.log.Debug("ignoring an unexpected message from the rendezvous", "type", m.Type)
		return
	}
	if m.Session == "" { // only errors lack a session
		c.log.Warn("the rendezvous reported an error", "code", m.Code, "message", m.Message)
		c.mu.Lock()
		c.lastErr = &RefusedError{Code: m.Code, Message: m.Message}
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	s := c.sessions[m.Session]
	isNew := false
	var held []*signaling.Message
	_, gone := c.ended[m.Session]
	switch {
	case s != nil || c.onOffer == nil || gone:
	case m.Type == signaling.TypeOffer:
		ice := m.ICEServers
		if ice == nil {
			ice = c.ice
		}
		s = newSession(c, m.Session, "", ice, m.ViewerAddr, false)
		c.sessions[s.id] = s
		isNew = true
		held = c.early.take(m.Session, c.now())
	case m.Type == signaling.TypeCandidate:
		// The viewer's candidates overtook its offer: keep them for when it arrives.
		ok := c.early.add(m, c.now())
		c.mu.Unlock()
		if !ok {
			c.log.Warn("dropping an ICE candidate that arrived before its offer: too many held", "session", m.Session)
		}
		return
	default:
		c.early.drop(m.Session) // a bye or error: its offer is not coming
	}
	c.mu.Unlock()
	if s == nil {
		c.log.Debug("ignoring a message for a session not open here", "type", m.Type, "session", m.Session)
		return
	}
	s.deliver(m)
	for _, h := range held {
		s.deliver(h)
	}
	if len(held) > 0 {
		c.log.Debug("applied ICE candidates that arrived before the offer", "session", s.id, "count", len(held))
	}
	if m.Type == signaling.TypeBye || (m.Type == signaling.TypeError && m.Code == signaling.CodeUnknownSession) {
		s.end()
	}
	if isNew {
		c.log.Info("new viewer session", "session", s.id, "viewer", s.viewerAddr)
		c.onOffer(s)
	}
}

func (c *clientConn) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[id]; !ok {
		return
	}
	delete(c.sessions, id)
	if len(c.ended) >= 4096 {
		clear(c.ended)
	}
	c.ended[id] = struct{}{}
}

// Session is one signaling session between a viewer and a host, as seen by one end.
type Session struct {
	id         string
	hostID     string
	ice        []ICEServer
	viewerAddr string
	cc         *clientConn
	owns       bool // viewer: the session owns its WebSocket
	recv       chan *signaling.Message

	mu    sync.Mutex
	ended bool
	once  sync.Once
}

func newSession(cc *clientConn, id, hostID string, ice []ICEServer, viewerAddr string, owns bool) *Session {
	return &Session{id: id, hostID: hostID, ice: ice, viewerAddr: viewerAddr, cc: cc, owns: owns, recv: make(chan *signaling.Message, sessionRecvQueue)}
}

// ID is the session ID the rendezvous assigned.
func (s *Session) ID() string { return s.id }

// HostID is the host the session is with (viewer side; empty on the host side).
func (s *Session) HostID() string { return s.hostID }

// ICEServers are the STUN and TURN servers the rendezvous handed out for this session.
func (s *Session) ICEServers() []ICEServer {
	out := make([]ICEServer, len(s.ice))
	for i, v := range s.ice {
		v.URLs = append([]string(nil), v.URLs...)
		out[i] = v
	}
	return out
}

// ViewerAddr is, on the host side, the viewer's address as the rendezvous saw it (ip:port, or
// ip behind a proxy). It is for logs and policy hints, not for authentication.
func (s *Session) ViewerAddr() string { return s.viewerAddr }

// Recv delivers the offer, answer, candidate and bye messages of this session, and the errors
// the rendezvous reports about it. It is closed when the session ends (a bye either way, an
// unknown_session error, Close) or its WebSocket goes away. A bye from the rendezvous carries a
// Code (signaling.ByePeerGone, ByeExpired, ByeShutdown): signaling is over, but an established
// peer connection may live on. If the receiver falls more than 256 messages behind, the
// session ends: a bye goes to the other end and Recv is closed.
func (s *Session) Recv() <-chan *signaling.Message { return s.recv }

// Send sends an offer, answer, candidate or bye on the session, filling in the session ID. It
// waits for room in the send queue until ctx is done; it does not wait for the network.
func (s *Session) Send(ctx context.Context, m *signaling.Message) error {
	if m == nil {
		return errors.New("rendezvous: Send(nil)")
	}
	switch m.Type {
	case signaling.TypeOffer, signaling.TypeAnswer, signaling.TypeCandidate, signaling.TypeBye:
	default:
		return fmt.Errorf("rendezvous: a session cannot send %q messages", m.Type)
	}
	mm := *m
	mm.Session = s.id
	b, err := signaling.Encode(&mm)
	if err != nil {
		return fmt.Errorf("rendezvous: %w", err)
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return ErrSessionClosed
	}
	if err := s.cc.enqueueWait(ctx, b); err != nil {
		return err
	}
	if m.Type == signaling.TypeBye {
		s.end()
	}
	return nil
}

// Close ends the session: it sends a bye if the session is still open and, for a viewer's
// session, closes its WebSocket and waits for its goroutines. It is idempotent.
func (s *Session) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		ended := s.ended
		s.mu.Unlock()
		if !ended {
			if b, err := signaling.Encode(&signaling.Message{Type: signaling.TypeBye, Session: s.id, Reason: "closed"}); err == nil {
				s.cc.enqueue(b)
			}
		}
		s.end()
		if s.owns {
			s.cc.close(websocket.StatusNormalClosure, "session closed")
		}
	})
	return nil
}

func (s *Session) deliver(m *signaling.Message) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	select {
	case s.recv <- m:
		s.mu.Unlock()
		return
	default:
	}
	s.cc.log.Warn("session receive queue overflow; ending the session", "session", s.id)
	overflow := &signaling.Message{Type: signaling.TypeBye, Session: s.id, Reason: "receive queue overflow"}
	if b, err := signaling.Encode(overflow); err == nil {
		s.cc.enqueue(b)
	}
	s.mu.Unlock()
	s.end()
}

// end marks the session over and closes Recv.
func (s *Session) end() {
	s.mu.Lock()
	if !s.ended {
		s.ended = true
		close(s.recv)
	}
	s.mu.Unlock()
	s.cc.forget(s.id)
}
