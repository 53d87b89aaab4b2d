package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/identity"
)

func TestGate(t *testing.T) {
	g := NewGate(5, 2)
	enter := func(src string) func() {
		t.Helper()
		release, err := g.enter(src)
		if err != nil {
			t.Fatalf("enter %s: %v", src, err)
		}
		return release
	}
	refused := func(src, why string) {
		t.Helper()
		if _, err := g.enter(src); !errors.Is(err, ErrTooManyPending) || !strings.Contains(err.Error(), why) {
			t.Fatalf("enter %s: %v, want ErrTooManyPending (%s)", src, err, why)
		}
	}
	a1 := enter("192.0.2.1:1000")
	enter("192.0.2.1:1001")
	refused("192.0.2.1:1002", "2 from 192.0.2.1") // per source, whatever the port
	refused("192.0.2.1", "2 from 192.0.2.1")      // a bare IP is the same source
	enter("[2001:db8:1:2::1]:5")
	enter("[2001:db8:1:2::2]:5")
	refused("[2001:db8:1:2:ffff::9]:6", "2001:db8:1:2::/64") // one /64 is one source...
	enter("[2001:db8:1:3::1]:5")                             // ...the next /64 another
	refused("198.51.100.1:1", "5 in all")
	a1()
	a1() // releasing twice gives back one slot only
	enter("198.51.100.1:1")
	refused("198.51.100.2:1", "5 in all")
	if g.Pending() != 5 {
		t.Fatalf("pending %d, want 5", g.Pending())
	}
}

// A viewer refused at the gate hears why at once, instead of timing out.
func TestGateRefusalReachesViewer(t *testing.T) {
	hostKey, viewerKey := newKey(t), newKey(t)
	hostID := identity.HostID(hostKey.Public().(ed25519.PublicKey))
	gate := NewGate(1, 1)
	hold, err := gate.enter("192.0.2.9:1")
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	vs, hs := signalPair()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	herr := make(chan error, 1)
	go func() {
		_, err := Accept(ctx, hs, hostID, Config{LoopbackOnly: true, Gate: gate, Source: "192.0.2.10:1"}, auth.HostConfig{Key: hostKey})
		herr <- err
	}()
	start := time.Now()
	_, verr := Dial(ctx, vs, hostID, Config{LoopbackOnly: true}, auth.ViewerConfig{Key: viewerKey})
	if !errors.Is(<-herr, ErrTooManyPending) {
		t.Errorf("host: want ErrTooManyPending")
	}
	if !errors.Is(verr, ErrPeerLeft) || !strings.Contains(verr.Error(), "too many sessions authenticating") {
		t.Fatalf("viewer: %v, want the host's reason", verr)
	}
	t.Logf("viewer refused after %v: %v", time.Since(start).Round(time.Millisecond), verr)
}

// FuzzSourceKey: the viewer address comes from the rendezvous; whatever it is, the key is
// stable, and two addresses of one IPv6 /64 (or one IPv4 address) share it.
func FuzzSourceKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1:5", "[2001:db8::1]:9", "2001:db8::1", "::ffff:192.0.2.1", "[fe80::1%eth0]:1", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		k := sourceKey(addr)
		if k != sourceKey(addr) {
			t.Fatalf("sourceKey(%q) is not stable", addr)
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return
		}
		other := netip.AddrPortFrom(ap.Addr(), ap.Port()+1).String()
		if sourceKey(other) != k {
			t.Fatalf("%q and %q (another port) have different keys %q, %q", addr, other, k, sourceKey(other))
		}
	})
}
