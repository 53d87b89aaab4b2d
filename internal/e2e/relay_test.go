package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestForwardRelayOnly moves the 64 MiB blob through -L with both ends forced onto the
// rendezvous's built-in TURN relay (--relay-only), with per-session credentials the
// rendezvous handed out. Everything is on loopback, so the relay runs with
// --turn-allow-private (the filter that refuses loopback peers by default is tested in
// package relay and in TestRelayRefusesLoopbackPeers below).
func TestForwardRelayOnly(t *testing.T) {
	w := newWorldWith(t, "--stun-listen", "off", "--turn", "--turn-listen", "127.0.0.1:0",
		"--public-ip", "127.0.0.1", "--turn-allow-private", "--turn-max-bitrate", "0")
	w.rv.waitFor(`TURN relay ready`, 10*time.Second)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String(), "--relay-only")
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String(), "--relay-only")
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	start := time.Now()
	if got := curlSum(t, "http://"+local+"/blob"); got != blobSum {
		t.Fatalf("-L through the relay: SHA-256 %s, want %s", got, blobSum)
	}
	t.Logf("64 MiB through the relay in %v (%.1f MB/s)", time.Since(start), float64(blobSize)/time.Since(start).Seconds()/1e6)
	v.waitFor(`connected to host .*path relay/relay via TURN over UDP, \d+-byte packets`, 10*time.Second)
	w.host.waitFor(`viewer connected.*path="relay/relay via TURN over UDP"`, 10*time.Second)
	w.rv.waitFor(`relay allocation.*user=\d+:[0-9a-f]{32}`, 10*time.Second)
	// The credentials never reach the rendezvous's log.
	if out := w.rv.output(); strings.Contains(out, "credential") || strings.Contains(out, "password") {
		t.Fatalf("the rendezvous log mentions credentials:\n%s", out)
	}
}

// TestRelayRefusesLoopbackPeers runs the same session without --turn-allow-private: the relay
// refuses the permissions to the peers' loopback relay addresses, so a --relay-only session
// cannot connect, and the rendezvous says why.
func TestRelayRefusesLoopbackPeers(t *testing.T) {
	w := newWorldWith(t, "--stun-listen", "off", "--turn", "--turn-listen", "127.0.0.1:0", "--public-ip", "127.0.0.1")
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String(), "--relay-only")
	w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String(), "--relay-only")
	w.rv.waitFor(`refused a relay permission to a non-public peer address.*peer=127\.0\.0\.1`, 60*time.Second)
}

// TestRelayOnlyWithoutTURN checks the message when --relay-only has no relay to use.
func TestRelayOnlyWithoutTURN(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String(), "--relay-only")
	v.waitFor(`relay-only needs a TURN server.*start the rendezvous with --turn`, 60*time.Second)
}
