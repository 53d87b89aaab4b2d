// Package relay is the STUN and TURN server built into the rendezvous binary. STUN answers
// binding requests so that peers behind NAT learn their public address; TURN (on request) relays
// a session's packets when no direct path exists. The relay takes only the rendezvous's
// short-lived TURN REST credentials (package turncred), reaches only public peer addresses
// unless told otherwise, and bounds what one credential may allocate and send.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"golang.org/x/time/rate"

	"github.com/deskport/deskport/turncred"
)

// Defaults for the zero values of Config.
const (
	DefaultRealm          = "deskport"
	DefaultMaxAllocations = 10
	DefaultMaxBitrate     = 100_000_000 // bits per second
)

// ErrNoRelayAddress means TURN is on but Config.RelayIP is not set.
var ErrNoRelayAddress = errors.New("relay: no relay address; pass --public-ip with the address peers reach this machine at")

// Config configures a Server. The caller owns the listening sockets' creation (so tests listen
// on :0); the Server owns them from New on and closes them in Close.
type Config struct {
	// Logger receives the relay's events (never a password); nil discards them.
	Logger *slog.Logger
	// UDP serves STUN and, with TURN, TURN over UDP. Required.
	UDP net.PacketConn
	// TCP, when set with TURN, serves TURN over TCP.
	TCP net.Listener
	// TLS, when set with TURN, serves TURN over TLS with TLSConfig.
	TLS       net.Listener
	TLSConfig *tls.Config

	// TURN turns the relay on. Without it the server answers STUN binding requests only and
	// refuses every allocation.
	TURN bool
	// Secret is the TURN REST shared secret the rendezvous mints credentials with.
	Secret []byte
	// RelayIP is the address written into relayed candidates: the address peers reach this
	// machine at (its public address when it sits behind a 1:1 NAT, as cloud VMs do).
	RelayIP netip.Addr
	// RelayBind is the local address relay sockets bind to; empty means every address.
	RelayBind netip.Addr
	// MinPort and MaxPort bound the relay ports (both zero: any port the kernel picks).
	MinPort, MaxPort uint16
	// AllowPrivate lets the relay reach loopback, private, link-local and metadata addresses.
	// Only for a relay inside a private network (or a test); on a public relay it lets anyone
	// holding credentials reach the relay's own network.
	AllowPrivate bool
	// MaxAllocations bounds the live allocations of one credential. Default 10: each end of a
	// session allocates once per TURN URL (UDP, TCP, TLS), and an ICE restart allocates again.
	MaxAllocations int
	// MaxBitrate bounds, in bits per second, what one credential's allocations relay in both
	// directions together; packets above it are dropped. A packet between two allocations of
	// this relay counts once. Default 100 Mbit/s; negative means no limit.
	MaxBitrate int64
	// Realm is the TURN realm. Default "deskport".
	Realm string
	// STUNRate and STUNBurst bound, per source address (an IPv6 /64), the requests the server
	// answers without credentials over UDP: Binding, and Allocate without MESSAGE-INTEGRITY
	// (ratelimit.go). Requests over it are dropped. Defaults 50/s and 200; a negative STUNRate
	// means no limit.
	STUNRate  float64
	STUNBurst int

	// testHookDrop, when set, is called for every packet a relay socket drops.
	testHookDrop func()
	// testHookClosed, when set, is called after an allocation's relay socket has closed.
	testHookClosed func()
}

// Validate refuses unusable settings.
func (c Config) Validate() error {
	var errs []error
	if c.UDP == nil {
		errs = append(errs, errors.New("no UDP socket"))
	}
	if c.TURN {
		if len(c.Secret) < turncred.MinSecretBytes {
			errs = append(errs, fmt.Errorf("the TURN secret is %d bytes, want at least %d", len(c.Secret), turncred.MinSecretBytes))
		}
		if !c.RelayIP.IsValid() || c.RelayIP.IsUnspecified() {
			errs = append(errs, ErrNoRelayAddress)
		}
		if c.TLS != nil && c.TLSConfig == nil {
			errs = append(errs, errors.New("TURN over TLS needs a certificate (TLSConfig)"))
		}
	}
	if (c.MinPort == 0) != (c.MaxPort == 0) || c.MinPort > c.MaxPort {
		errs = append(errs, fmt.Errorf("relay port range %d-%d is not lo-hi with 0 < lo <= hi", c.MinPort, c.MaxPort))
	}
	if c.STUNBurst < 0 {
		errs = append(errs, fmt.Errorf("STUNBurst is negative (%d)", c.STUNBurst))
	}
	if c.MaxAllocations < 0 {
		errs = append(errs, fmt.Errorf("MaxAllocations is negative (%d)", c.MaxAllocations))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("relay: invalid config: %w", err)
	}
	return nil
}

// Server is a running STUN/TURN server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	turn *turn.Server
	udp  *limitedConn // nil without a STUN limit

	mu    sync.Mutex
	users map[string]*user // by TURN username, while it has allocations
	live  map[*relayConn]struct{}
	// closed sums the figures of allocations already closed; guarded by mu.
	closed Stats

	allocations, refusedAuth, refusedQuota, refusedPeer atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// user is what one credential holds: its live allocations and its bandwidth budget.
type user struct {
	allocations int
	limit       *rate.Limiter // nil: no limit
}

// New starts serving on the configured sockets.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.MaxAllocations == 0 {
		cfg.MaxAllocations = DefaultMaxAllocations
	}
	if cfg.MaxBitrate == 0 {
		cfg.MaxBitrate = DefaultMaxBitrate
	}
	if cfg.STUNRate == 0 {
		cfg.STUNRate = DefaultSTUNRate
	}
	if cfg.STUNBurst == 0 {
		cfg.STUNBurst = DefaultSTUNBurst
	}
	s := &Server{cfg: cfg, log: cfg.Logger, users: make(map[string]*user), live: make(map[*relayConn]struct{})}
	setBuffers(cfg.UDP)
	udp := cfg.UDP
	if cfg.STUNRate > 0 {
		s.udp = newLimitedConn(cfg.UDP, rate.Limit(cfg.STUNRate), cfg.STUNBurst, cfg.Logger)
		udp = s.udp
	}
	gen := &generator{s: s}
	perm := s.permitted
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		LoggerFactory: slogFactory{cfg.Logger},
		PacketConnConfigs: []turn.PacketConnConfig{
			{PacketConn: udp, RelayAddressGenerator: gen, PermissionHandler: perm},
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, proto, userID, _ string, relayAddr net.Addr, _ int) {
				s.log.Info("relay allocation", "client", src.String(), "transport", proto, "user", userID, "relay", relayAddr.String())
			},
			OnPermissionCreated: func(src, _ net.Addr, _, userID, _ string, _ net.Addr, peer net.IP) {
				s.log.Debug("relay permission", "client", src.String(), "user", userID, "peer", peer.String())
			},
		},
	}
	if cfg.TURN && cfg.TCP != nil {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: cfg.TCP, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if cfg.TURN && cfg.TLS != nil {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: tls.NewListener(cfg.TLS, cfg.TLSConfig), RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	ts, err := turn.NewServer(sc)
	if err != nil {
		for _, c := range []interface{ Close() error }{cfg.UDP, cfg.TCP, cfg.TLS} {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("relay: %w", err)
	}
	s.turn = ts
	return s, nil
}

// Close stops serving and closes every socket and allocation.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.turn.Close()
		// pion's TURN server closes listeners it wrapped, not the TLS listener's inner one.
		if s.cfg.TLS != nil {
			s.cfg.TLS.Close()
		}
	})
	return s.closeErr
}

// STUNDropped counts the unauthenticated requests dropped over the per-source limit.
func (s *Server) STUNDropped() int64 {
	if s.udp == nil {
		return 0
	}
	return s.udp.dropped.Load()
}

// Allocations is the number of live relay allocations.
func (s *Server) Allocations() int { return s.turn.AllocationCount() }

// Stats are the relay's running totals since New, for metrics.
type Stats struct {
	// Allocations is the number of live allocations; AllocationsTotal counts every one made.
	Allocations, AllocationsTotal int64
	// BytesToPeers and BytesFromPeers count relayed payload bytes, sent from the relay
	// sockets to peers and received on them from peers.
	BytesToPeers, BytesFromPeers int64
	// DroppedPackets counts packets a relay socket dropped: to or from a peer address the
	// relay may not reach, or over a credential's bandwidth.
	DroppedPackets int64
	// RefusedCredentials, RefusedQuota and RefusedPeers count requests refused: bad or
	// expired credentials, an allocation over MaxAllocations, a permission to a peer address
	// the relay may not reach.
	RefusedCredentials, RefusedQuota, RefusedPeers int64
}

// Stats sums the figures of live and closed allocations. It costs the relayed packets
// nothing: each allocation counts in its own atomics, read only here.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := s.closed
	for c := range s.live {
		st.BytesToPeers += c.toPeer.Load()
		st.BytesFromPeers += c.fromPeer.Load()
		st.DroppedPackets += c.dropped.Load()
	}
	st.Allocations = int64(len(s.live))
	s.mu.Unlock()
	st.AllocationsTotal = s.allocations.Load()
	st.RefusedCredentials = s.refusedAuth.Load()
	st.RefusedQuota = s.refusedQuota.Load()
	st.RefusedPeers = s.refusedPeer.Load()
	return st
}

// authenticate checks TURN REST credentials. An expired username may not allocate, but may
// still refresh, and add permissions and channels to, the allocation it made while valid, so
// that a relayed session outlives the minutes its credentials were handed out for; a stolen
// expired credential creates nothing.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	if !s.cfg.TURN {
		return "", nil, false
	}
	pw, err := turncred.Check(s.cfg.Secret, ra.Username, time.Now())
	if errors.Is(err, turncred.ErrExpired) && ra.Method != stun.MethodAllocate {
		pw, err = turncred.Password(s.cfg.Secret, ra.Username), nil
	}
	if err != nil {
		s.refusedAuth.Add(1)
		s.log.Info("refused TURN credentials", "client", addrString(ra.SrcAddr), "method", ra.Method.String(), "err", err)
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pw), true
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// quota refuses an allocation (486 Allocation Quota Reached) once the credential holds
// MaxAllocations; the generator enforces the same bound atomically.
func (s *Server) quota(username, _ string, src net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[username]; u != nil && u.allocations >= s.cfg.MaxAllocations {
		s.refusedQuota.Add(1)
		s.log.Warn("refused a relay allocation over the per-credential quota", "client", addrString(src), "user", username, "limit", s.cfg.MaxAllocations)
		return false
	}
	return true
}

// permitted is pion's permission hook: CreatePermission and ChannelBind to a peer address the
// relay may not reach fail with 403.
func (s *Server) permitted(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok && (s.cfg.AllowPrivate || PeerAllowed(ip)) {
		return true
	}
	s.refusedPeer.Add(1)
	if ok && ordinaryLANAddr(ip) {
		// Every peer behind a NAT offers its LAN addresses as host candidates, and ICE asks
		// for permissions to each: refusing them is the filter doing its job, many times a
		// session, and not worth a warning (deskport_rendezvous_turn_refusals_total{reason="peer"} counts them).
		s.log.Debug("refused a relay permission to a private peer address", "client", addrString(client), "peer", peer.String())
		return false
	}
	s.log.Warn("refused a relay permission to a non-public peer address", "client", addrString(client), "peer", peer.String())
	return false
}

// ordinaryLANAddr reports the private addresses that peers' own interfaces have (RFC 1918,
// carrier-grade NAT, IPv6 unique local), which ICE offers as host candidates; loopback,
// link-local (cloud metadata) and the rest are not what a peer's candidates hold.
func ordinaryLANAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if ip.IsPrivate() { // 10/8, 172.16/12, 192.168/16, fc00::/7
		return !metadataV6.Contains(ip)
	}
	return cgnat.Contains(ip)
}

var (
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")
	metadataV6 = netip.MustParsePrefix("fd00:ec2::/32") // AWS's instance metadata over IPv6
)

func (s *Server) peerOK(a net.Addr) bool {
	if s.cfg.AllowPrivate {
		return true
	}
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	return ok && PeerAllowed(ip)
}

// acquire counts a new allocation against its credential, or refuses it.
func (s *Server) acquire(username string) (*user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		u = &user{}
		if s.cfg.MaxBitrate > 0 {
			bytesPerSec := float64(s.cfg.MaxBitrate) / 8
			// A quarter second of burst, and at least a few full-size packets.
			u.limit = rate.NewLimiter(rate.Limit(bytesPerSec), max(int(bytesPerSec/4), 64<<10))
		}
		s.users[username] = u
	}
	if u.allocations >= s.cfg.MaxAllocations {
		return nil, fmt.Errorf("relay: credential %s holds %d allocations already", username, u.allocations)
	}
	u.allocations++
	return u, nil
}

func (s *Server) release(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[username]; u != nil {
		if u.allocations--; u.allocations <= 0 {
			delete(s.users, username)
		}
	}
}

// generator creates relay sockets: UDP only (peers speak ICE over UDP through the relay; TCP
// allocations, RFC 6062, would let a credential open TCP connections from this machine), on
// the configured ports, each wrapped with the peer filter and its credential's budget.
type generator struct{ s *Server }

var errNoTCPRelay = errors.New("relay: TCP allocations (RFC 6062) are not offered")

func (g *generator) Validate() error { return nil }

func (g *generator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := g.s
	u, err := s.acquire(conf.UserID)
	if err != nil {
		return nil, nil, err
	}
	network := "udp4"
	if s.cfg.RelayIP.Is6() && !s.cfg.RelayIP.Is4In6() {
		network = "udp6"
	}
	if conf.Network != network {
		s.release(conf.UserID)
		return nil, nil, fmt.Errorf("relay: this relay has an %s address only", network)
	}
	bind := ""
	if s.cfg.RelayBind.IsValid() {
		bind = s.cfg.RelayBind.String()
	}
	pc, err := g.listen(network, bind)
	if err != nil {
		s.release(conf.UserID)
		return nil, nil, err
	}
	setBuffers(pc)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	rc := &relayConn{PacketConn: pc, s: s, user: conf.UserID, u: u}
	s.allocations.Add(1)
	s.mu.Lock()
	s.live[rc] = struct{}{}
	s.mu.Unlock()
	return rc, &net.UDPAddr{IP: s.cfg.RelayIP.AsSlice(), Port: port}, nil
}

// socketBuffer is the UDP buffer asked for on the relay's sockets: the kernel's default
// (208 KiB) overflows under a relayed bulk transfer, and every drop stalls the session's SCTP
// (the same figure as session's; the kernel caps it at net.core.rmem_max).
const socketBuffer = 4 << 20

func setBuffers(pc net.PacketConn) {
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(socketBuffer)
		_ = uc.SetWriteBuffer(socketBuffer)
	}
}

// listen binds a relay socket: any port, or a random free one of the range.
func (g *generator) listen(network, bind string) (net.PacketConn, error) {
	lc := net.ListenConfig{}
	s := g.s
	if s.cfg.MinPort == 0 {
		return lc.ListenPacket(context.Background(), network, net.JoinHostPort(bind, "0"))
	}
	span := int(s.cfg.MaxPort) - int(s.cfg.MinPort) + 1
	start := int(time.Now().UnixNano() % int64(span))
	tries := min(span, 64)
	var last error
	for i := range tries {
		port := int(s.cfg.MinPort) + (start+i*7919)%span
		pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(bind, fmt.Sprint(port)))
		if err == nil {
			return pc, nil
		}
		last = err
	}
	return nil, fmt.Errorf("relay: no free port in %d-%d after %d tries (widen --turn-relay-ports): %w", s.cfg.MinPort, s.cfg.MaxPort, tries, last)
}

func (g *generator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *generator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// relayConn is one allocation's relay socket. It drops packets to or from addresses the relay
// may not reach (pion's permissions already refuse them; this holds even if a permission slips
// through) and packets over the credential's bandwidth.
type relayConn struct {
	net.PacketConn
	s    *Server
	user string
	u    *user
	// toPeer and fromPeer count the bytes relayed each way; only this allocation's two
	// directions touch them, and a scrape reads them (Server.Stats).
	toPeer, fromPeer atomic.Int64
	dropped          atomic.Int64
	once             sync.Once
}

func (c *relayConn) allow(n int, peer net.Addr, charge bool, counter *atomic.Int64) bool {
	if !c.s.peerOK(peer) || (charge && c.u.limit != nil && !c.u.limit.AllowN(time.Now(), n)) {
		c.dropped.Add(1)
		if h := c.s.cfg.testHookDrop; h != nil {
			h()
		}
		return false
	}
	counter.Add(int64(n))
	return true
}

// fromSelf reports whether a packet came from one of this relay's own sockets: between two
// allocations of this server (both ends relayed, the usual --relay-only case) a packet was
// charged when the sending allocation wrote it, and is not charged again on arrival.
func (c *relayConn) fromSelf(a net.Addr) bool {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	return ok && ip.Unmap() == c.s.cfg.RelayIP
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.allow(len(p), addr, true, &c.toPeer) {
		return len(p), nil // a datagram lost on the way, as far as the client can tell
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.allow(n, addr, !c.fromSelf(addr), &c.fromPeer) {
			return n, addr, err
		}
	}
}

func (c *relayConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() {
		c.s.release(c.user)
		s := c.s
		s.mu.Lock()
		delete(s.live, c)
		s.closed.BytesToPeers += c.toPeer.Load()
		s.closed.BytesFromPeers += c.fromPeer.Load()
		s.closed.DroppedPackets += c.dropped.Load()
		s.mu.Unlock()
		s.log.Info("relay allocation closed", "user", c.user, "relayed_bytes", c.toPeer.Load()+c.fromPeer.Load(), "dropped_packets", c.dropped.Load())
		if h := s.cfg.testHookClosed; h != nil {
			h()
		}
	})
	return err
}

// slogFactory adapts pion's logging to slog, one level down (pion's Info and Warn at Debug),
// as session does: the relay logs what an operator must act on itself.
type slogFactory struct{ l *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{l: f.l.With("pion", scope)}
}

type slogLeveled struct{ l *slog.Logger }

func (s slogLeveled) logf(level slog.Level, format string, args ...any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (s slogLeveled) Trace(string)                      {}
func (s slogLeveled) Tracef(string, ...any)             {}
func (s slogLeveled) Debug(msg string)                  { s.logf(slog.LevelDebug-4, "%s", msg) }
func (s slogLeveled) Debugf(format string, args ...any) { s.logf(slog.LevelDebug-4, format, args...) }
func (s slogLeveled) Info(msg string)                   { s.logf(slog.LevelDebug, "%s", msg) }
func (s slogLeveled) Infof(format string, args ...any)  { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Warn(msg string)                   { s.logf(slog.LevelDebug, "%s", msg) }
func (s slogLeveled) Warnf(format string, args ...any)  { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Error(msg string)                  { s.logf(slog.LevelWarn, "%s", msg) }
func (s slogLeveled) Errorf(format string, args ...any) { s.logf(slog.LevelWarn, format, args...) }
