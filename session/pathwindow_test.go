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

// TestResumesRememberedWindow: a download over a 100 ms path leaves the host a remembered window
// for the viewer's address, and the next session between the same addresses starts its SCTP
// window there; a session over a path with another RTT does not.
func TestResumesRememberedWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 8 MiB over a simulated 100 ms path")
	}
	saved := pathWindows
	pathWindows = &windowCache{m: map[netip.Addr]pathWindow{}}
	t.Cleanup(func() { pathWindows = saved })
	viewerAddr := netip.MustParseAddr("10.99.0.2")

	vn, hn := lossyRouter(t, 100*time.Millisecond, 0)
	viewer, host, verr, herr := connectPair(t, pairConfig{viewerNet: vn, hostNet: hn, authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if cwnd := host.pc.SCTP().Stats().CongestionWindow; cwnd > sctpMinCwnd {
		t.Fatalf("first session's window %d, want the initial %d (nothing remembered yet)", cwnd, sctpMinCwnd)
	}
	forwardThrough(t, viewer, host, payload(8<<20))
	// When the viewer ends the session, the host's association can be gone before its Close
	// runs (at once on a short path); what it remembers then is what it sampled while the
	// session ran. Stop the association first to take that way.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for host.tunnel.path.Load() == nil {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the host sampled no path window during the session")
		}
	}
	if err := host.pc.SCTP().Stop(); err != nil {
		t.Fatal(err)
	}
	if w, _ := host.pc.SCTP().PathWindow(); w != 0 {
		t.Fatalf("path window %d after the association stopped, want none", w)
	}
	viewer.Close()
	host.Close()
	pathWindows.mu.Lock()
	w := pathWindows.m[viewerAddr]
	pathWindows.mu.Unlock()
	if w.window < 2*sctpMinCwnd || w.minRTT < 90*time.Millisecond {
		t.Fatalf("remembered window %d B, min RTT %v for %v; want at least %d B at 100 ms or more", w.window, w.minRTT, viewerAddr, 2*sctpMinCwnd)
	}
	// On a loaded machine (-race, other tests) every RTT sample runs long: SCTP's minimum was
	// 206 ms on this 100 ms path once, and the next session's RTT would then not match. That
	// miss is the design (an RTT that far off is another path); what is tested here is the
	// resumption, so the entry gets the path's own RTT.
	pathWindows.mu.Lock()
	w.minRTT = 100 * time.Millisecond
	pathWindows.m[viewerAddr] = w
	pathWindows.mu.Unlock()

	// The next session looks the window up by ICE's RTT, one connectivity check's: on a loaded
	// machine that too can run 60 % long (163 ms on this path, once, in a make test beside two
	// benchmarks), and the lookup then misses, as designed. Such a session started from the
	// initial window; another is tried, three in all, and one of them must resume.
	for attempt := 1; ; attempt++ {
		vn, hn = lossyRouter(t, 100*time.Millisecond, 0)
		_, host, verr, herr = connectPair(t, pairConfig{viewerNet: vn, hostNet: hn, authorize: true})
		if verr != nil || herr != nil {
			t.Fatalf("connect again: viewer %v, host %v", verr, herr)
		}
		cwnd := host.pc.SCTP().Stats().CongestionWindow
		if cwnd >= w.window*9/10 {
			break
		}
		st, ok := host.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
		if cwnd > sctpMinCwnd || attempt == 3 {
			t.Fatalf("session %d after the first: window %d, want the remembered %d (ICE RTT now %v s, %v)", attempt, cwnd, w.window, st.CurrentRoundTripTime, ok)
		}
		t.Logf("session %d after the first did not resume (window %d; ICE RTT now %v s): tried again", attempt, cwnd, st.CurrentRoundTripTime)
	}

	vn, hn = lossyRouter(t, 300*time.Millisecond, 0)
	_, host, verr, herr = connectPair(t, pairConfig{viewerNet: vn, hostNet: hn, authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect over 300 ms: viewer %v, host %v", verr, herr)
	}
	if cwnd := host.pc.SCTP().Stats().CongestionWindow; cwnd > sctpMinCwnd {
		t.Fatalf("window %d over a 300 ms path, want the initial %d (the remembered one is from 100 ms)", cwnd, sctpMinCwnd)
	}
}
