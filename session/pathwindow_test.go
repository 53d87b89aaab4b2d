package session

import (
	"net/netip"
	"testing"
	"time"
)

func TestWindowCache(t *testing.T) {
	c := &windowCache{m: map[netip.Addr]pathWindow{}}
	peer := netip.MustParseAddr("192.0.2.7")
	t0 := time.Now()
	const rtt = 150 * time.Millisecond
	c.remember(peer, 8<<20, rtt, t0)

	for _, tc := range []struct {
		name string
		addr netip.Addr
		rtt  time.Duration
		age  time.Duration
		want uint32
	}{
		{"same path at once", peer, 152 * time.Millisecond, 0, 8 << 20},
		{"RTT a fifth lower", peer, 120 * time.Millisecond, 0, 8 << 20},
		{"RTT 40% higher (delayed acks, a loaded host)", peer, 210 * time.Millisecond, 0, 8 << 20},
		{"another route, shorter", peer, 100 * time.Millisecond, 0, 0},
		{"another route, longer", peer, 300 * time.Millisecond, 0, 0},
		{"another peer", netip.MustParseAddr("192.0.2.8"), rtt, 0, 0},
		{"half a half-life later", peer, rtt, windowHalfLife / 2, 6 << 20},
		{"one half-life later", peer, rtt, windowHalfLife, 4 << 20},
		{"two half-lives later", peer, rtt, 2 * windowHalfLife, 2 << 20},
		{"decayed below twice the initial window", peer, rtt, 5 * windowHalfLife, 0},
		{"too old", peer, rtt, windowMaxAge + time.Second, 0},
		{"from the future (clock stepped back)", peer, rtt, -time.Minute, 0},
	} {
		got := c.lookup(tc.addr, tc.rtt, t0.Add(tc.age))
		if got < tc.want-tc.want/100 || got > tc.want+tc.want/100 {
			t.Errorf("%s: lookup %d, want %d", tc.name, got, tc.want)
		}
	}

	// Not worth remembering: a short path, a window near the initial one, no address.
	c.remember(netip.MustParseAddr("192.0.2.9"), 8<<20, time.Millisecond, t0)
	c.remember(netip.MustParseAddr("192.0.2.10"), sctpMinCwnd, rtt, t0)
	c.remember(netip.Addr{}, 8<<20, rtt, t0)
	if len(c.m) != 1 {
		t.Fatalf("%d entries, want only the first", len(c.m))
	}
	// Never more than the receive buffer.
	c.remember(peer, 64<<20, rtt, t0)
	if got := c.lookup(peer, rtt, t0); got != sctpReceiveBuffer {
		t.Fatalf("lookup %d after remembering 64 MiB, want the receive buffer's %d", got, sctpReceiveBuffer)
	}
	// Bounded: the oldest goes first.
	for i := range windowCacheSize + 10 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		c.remember(a, 8<<20, rtt, t0.Add(time.Duration(i+1)*time.Millisecond))
	}
	if len(c.m) != windowCacheSize {
		t.Fatalf("%d entries, want at most %d", len(c.m), windowCacheSize)
	}
	if _, ok := c.m[peer]; ok {
		t.Fatal("the oldest entry was kept")
	}
}
