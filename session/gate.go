package session

import (
	"fmt"
	"net/netip"
	"sync"
)

// Pre-authentication limits (issue 16, item 1; docs/session.md, "What a stranger costs").
// Anyone who knows a host ID can start sessions with it, so until a viewer has authenticated
// the host bounds how many such sessions exist at once, in total and per source address.
const (
	// DefaultMaxPending is the default cap on sessions that have not authenticated yet.
	DefaultMaxPending = 32
	// DefaultMaxPendingPerSource is the default cap per source address (per /64 for IPv6).
	DefaultMaxPendingPerSource = 2
)

// Gate counts the sessions of one host that have not authenticated yet. One Gate is shared by
// every Accept of a host (Config.Gate). Its zero value is not usable; use NewGate.
type Gate struct {
	max, perSource int

	mu     sync.Mutex
	total  int
	source map[string]int
}

// NewGate returns a gate that admits at most max unauthenticated sessions in all and
// perSource from one source address; zero means the default for either.
func NewGate(max, perSource int) *Gate {
	if max <= 0 {
		max = DefaultMaxPending
	}
	if perSource <= 0 {
		perSource = DefaultMaxPendingPerSource
	}
	return &Gate{max: max, perSource: perSource, source: map[string]int{}}
}

// sourceKey reduces a viewer address ("ip:port" or "ip", as the rendezvous reports it) to what
// the per-source cap counts: the IP, or its /64 for IPv6 (one subscriber's allocation). An
// address that does not parse counts as itself.
func sourceKey(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	ip := ap.Addr()
	if err != nil {
		if ip, err = netip.ParseAddr(addr); err != nil {
			return addr
		}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// enter admits one session from source, or refuses it with ErrTooManyPending. The returned
// function releases the slot; it must be called exactly once.
func (g *Gate) enter(source string) (release func(), err error) {
	key := sourceKey(source)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max {
		return nil, fmt.Errorf("%w (%d in all)", ErrTooManyPending, g.max)
	}
	if g.source[key] >= g.perSource {
		return nil, fmt.Errorf("%w (%d from %s)", ErrTooManyPending, g.perSource, key)
	}
	g.total++
	g.source[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.total--
			if g.source[key]--; g.source[key] <= 0 {
				delete(g.source, key)
			}
		})
	}, nil
}

// Pending reports how many sessions are authenticating now.
func (g *Gate) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}
