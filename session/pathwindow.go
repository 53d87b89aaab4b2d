package session

import (
	"net/netip"
	"sync"
	"time"
)

// Remembered path windows (temporal sharing, RFC 9040 4.2; what TCP's metrics cache does with
// ssthresh). Every new session starts SCTP at its 256 KiB initial window and doubles it once a
// round trip; over a 150 ms path reaching a window of 8 MiB takes five round trips, and a
// transfer of a few tens of MiB spends most of its time there (docs/bench.md, "Forward over a
// long path"). When an authenticated session ends, what its association measured of the path
// (the window one round trip delivered at its best recent rate, and the minimum RTT) is kept
// here under the peer's address; the next authenticated session to the same address starts
// its window there (congestion avoidance goes on from it), if the path looks the same:
//   - its RTT so far is within windowRTTMatch of the remembered minimum (another route, a
//     mobile peer on another network, a VPN: a different RTT, nothing resumed);
//   - the remembered window halves every windowHalfLife and is forgotten after windowMaxAge
//     (the path's other users come and go);
//   - it is at least twice the initial window (anything less is not worth the risk);
//   - the association has not lost anything yet (sctp.Association.ResumeWindow).
//
// Only authenticated sessions read or write it, so a stranger cannot plant a window; it holds
// at most windowCacheSize addresses, the oldest dropped first.
const (
	windowHalfLife  = 10 * time.Minute
	windowMaxAge    = time.Hour
	windowCacheSize = 256
	windowMinRTT    = 5 * time.Millisecond // below it slow start takes milliseconds: nothing to gain
)

// windowRTTMatch reports whether an RTT measured by a new session is close enough to the
// remembered minimum for the path to be taken as the same: from 3/4 to 3/2 of it (a new
// association's first samples include delayed acknowledgements and the handshake's CPU).
func windowRTTMatch(now, remembered time.Duration) bool {
	return 4*now >= 3*remembered && 2*now <= 3*remembered
}

type pathWindow struct {
	window uint32
	minRTT time.Duration
	at     time.Time
}

// windowCache is the remembered windows of this process, by peer address.
type windowCache struct {
	mu sync.Mutex
	m  map[netip.Addr]pathWindow
}

var pathWindows = &windowCache{m: map[netip.Addr]pathWindow{}}

// remember stores what a session to addr measured.
func (c *windowCache) remember(addr netip.Addr, window uint32, minRTT time.Duration, now time.Time) {
	if !addr.IsValid() || minRTT < windowMinRTT || window < 2*sctpMinCwnd {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[addr]; !ok && len(c.m) >= windowCacheSize {
		var oldest netip.Addr
		for a, w := range c.m {
			if !oldest.IsValid() || w.at.Before(c.m[oldest].at) {
				oldest = a
			}
		}
		delete(c.m, oldest)
	}
	c.m[addr] = pathWindow{window: min(window, sctpReceiveBuffer), minRTT: minRTT, at: now}
}

// lookup returns the window to resume on a path to addr whose RTT so far is rtt, decayed by
// age; 0 when there is none or the path does not match.
func (c *windowCache) lookup(addr netip.Addr, rtt time.Duration, now time.Time) uint32 {
	c.mu.Lock()
	w, ok := c.m[addr]
	c.mu.Unlock()
	age := now.Sub(w.at)
	if !ok || age < 0 || age > windowMaxAge || !windowRTTMatch(rtt, w.minRTT) {
		return 0
	}
	decayed := float64(w.window)
	for ; age >= windowHalfLife; age -= windowHalfLife {
		decayed /= 2
	}
	decayed *= 1 - 0.5*float64(age)/float64(windowHalfLife) // linear within a half-life
	if decayed < 2*sctpMinCwnd {
		return 0
	}
	return uint32(decayed)
}
