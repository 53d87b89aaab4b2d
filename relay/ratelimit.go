package relay

import (
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Per-source limits on what anyone may ask over UDP without credentials. A STUN binding
// response is bigger than its request and goes to the request's source address, which UDP
// does not check: without a limit the server reflects whatever a spoofer sends at a victim. An
// unauthenticated TURN Allocate (the first of every allocation, answered 401 with a nonce) is
// the same. Legitimate clients send a few of each per ICE gathering, so the limit is generous:
// many clients behind one carrier-grade NAT share an address.
const (
	DefaultSTUNRate  = 50  // requests per second per source
	DefaultSTUNBurst = 200 // requests at once per source
	// maxSources bounds the table of sources; beyond it, new sources share one limiter, so a
	// flood from spoofed addresses neither grows memory nor escapes the limit.
	maxSources = 65536
	// sourceIdle is how long a source stays in the table after its last request.
	sourceIdle = time.Minute
)

// STUN header fields (RFC 8489).
const (
	stunHeaderLen        = 20
	stunMagicCookie      = 0x2112A442
	stunBindingRequest   = 0x0001
	stunAllocateRequest  = 0x0003
	stunMessageIntegrity = 0x0008
)

// unauthenticated reports whether a datagram is a STUN request that the server answers without
// credentials: a Binding request, or an Allocate request without MESSAGE-INTEGRITY. TURN data
// (ChannelData, indications) and authenticated requests are not.
func unauthenticated(b []byte) bool {
	if len(b) < stunHeaderLen || b[0]&0xc0 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		return false
	}
	switch binary.BigEndian.Uint16(b[0:2]) {
	case stunBindingRequest:
		return true
	case stunAllocateRequest:
	default:
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	attrs := b[stunHeaderLen:]
	if n < len(attrs) {
		attrs = attrs[:n]
	}
	for len(attrs) >= 4 {
		typ, l := binary.BigEndian.Uint16(attrs[0:2]), int(binary.BigEndian.Uint16(attrs[2:4]))
		if typ == stunMessageIntegrity {
			return false
		}
		l = (l + 3) &^ 3
		if 4+l > len(attrs) {
			break
		}
		attrs = attrs[4+l:]
	}
	return true
}

// sourceKey is what one source means: an IPv4 address, or an IPv6 /64 (one subscriber holds a
// whole /64, as the rendezvous counts them).
func sourceKey(a net.Addr) netip.Addr {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

type source struct {
	lim  *rate.Limiter
	seen time.Time
}

// limitedConn is the server's UDP socket with a per-source limit on unauthenticated requests:
// ReadFrom drops, uncounted by pion, what is over the limit.
type limitedConn struct {
	net.PacketConn
	limit   rate.Limit
	burst   int
	log     *slog.Logger
	dropped atomic.Int64

	mu        sync.Mutex
	sources   map[netip.Addr]*source
	overflow  *rate.Limiter
	lastSweep time.Time
	logged    int64 // dropped at the last log line
	now       func() time.Time
}

func newLimitedConn(pc net.PacketConn, limit rate.Limit, burst int, log *slog.Logger) *limitedConn {
	return &limitedConn{PacketConn: pc, limit: limit, burst: burst, log: log,
		sources: make(map[netip.Addr]*source), overflow: rate.NewLimiter(limit, burst), now: time.Now}
}

func (c *limitedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !unauthenticated(p[:n]) || c.allow(addr) {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

func (c *limitedConn) allow(a net.Addr) bool {
	key := sourceKey(a)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) > sourceIdle {
		c.sweep(now)
	}
	s := c.sources[key]
	if s == nil {
		if len(c.sources) >= maxSources {
			return c.overflow.AllowN(now, 1)
		}
		s = &source{lim: rate.NewLimiter(c.limit, c.burst)}
		c.sources[key] = s
	}
	s.seen = now
	return s.lim.AllowN(now, 1)
}

// sweep forgets idle sources and says how many requests were dropped since the last time.
func (c *limitedConn) sweep(now time.Time) {
	c.lastSweep = now
	for k, s := range c.sources {
		if now.Sub(s.seen) > sourceIdle {
			delete(c.sources, k)
		}
	}
	if d := c.dropped.Load(); d > c.logged {
		c.log.Warn("dropped STUN requests over the per-address rate (a client retrying hard, or a reflection attack with spoofed sources)",
			"dropped", d-c.logged, "rate", float64(c.limit), "burst", c.burst)
		c.logged = d
	}
}
