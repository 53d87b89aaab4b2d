package session

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v5/stdnet"
)

func TestPacerRate(t *testing.T) {
	var p pacer
	p.setRate(1<<20, 100*time.Millisecond, 4<<20, 0)
	if got, want := p.rate.Load(), uint64(pacingGain*(1<<20)*10); got != want {
		t.Errorf("rate for 1 MiB cwnd over 100 ms: %d, want %d", got, want)
	}
	p.setRate(1<<20, time.Millisecond, 4<<20, 0) // a short path: bursts do no harm
	if got := p.rate.Load(); got != 0 {
		t.Errorf("a 1 ms path is paced at %d B/s", got)
	}
	p.setRate(0, 100*time.Millisecond, 4<<20, 0)
	if got := p.rate.Load(); got != 0 {
		t.Errorf("no window yet, paced at %d B/s", got)
	}
	p.setRate(1<<20, 100*time.Millisecond, 64<<10, 0) // no bulk transfer: video and input go at once
	if got := p.rate.Load(); got != 0 {
		t.Errorf("an idle association is paced at %d B/s", got)
	}
	// The association's own rate (from its delivery rate) wins over the window's.
	p.setRate(1<<20, 100*time.Millisecond, 4<<20, 3e6)
	if got := p.rate.Load(); got != 3e6 {
		t.Errorf("the association asks for 3 MB/s: paced at %d B/s", got)
	}
	p.setRate(1<<20, 100*time.Millisecond, 64<<10, 3e6)
	if got := p.rate.Load(); got != 0 {
		t.Errorf("an idle association asking for 3 MB/s is paced at %d B/s", got)
	}
}

// TestPacerFollowsOnlyWhenBusy counts follow's looks at the association in a synctest bubble:
// every pacingInterval while it holds data, none while it is idle and nothing is written (a
// static screen), one when a socket writes again, and pacing that starts from it.
func TestPacerFollowsOnlyWhenBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer()
		var buffered atomic.Int64
		buffered.Store(4 << 20)
		done := make(chan struct{})
		go p.followWith(done, func() (uint32, time.Duration, int, uint64) {
			return 1 << 20, 100 * time.Millisecond, int(buffered.Load()), 0
		})
		time.Sleep(10*pacingInterval + pacingInterval/2)
		if got := p.polls.Load(); got != 10 {
			t.Errorf("busy for 10 intervals: %d looks, want 10", got)
		}
		if p.rate.Load() == 0 {
			t.Errorf("a busy long path is not paced")
		}

		buffered.Store(0)
		time.Sleep(pacingInterval)
		idleAt := p.polls.Load()
		if !p.idle.Load() || p.rate.Load() != 0 {
			t.Fatalf("an emptied association: idle %v, rate %d", p.idle.Load(), p.rate.Load())
		}
		time.Sleep(time.Minute)
		if got := p.polls.Load() - idleAt; got != 0 {
			t.Errorf("idle for a minute with nothing written: %d looks, want 0", got)
		}

		// A burst of packets (a refresh frame) kicks a look and its re-check (and one more pair,
		// deferred by an interval, if packets raced the first), and the connection is idle again.
		for range 20 {
			p.wait(1200)
		}
		time.Sleep(time.Minute)
		afterBurst := p.polls.Load()
		if got := afterBurst - idleAt; got < 2 || got > 4 {
			t.Errorf("20 packets written while idle: %d looks, want 2 to 4", got)
		}
		time.Sleep(time.Minute)
		if got := p.polls.Load() - afterBurst; got != 0 {
			t.Errorf("idle for a minute after the burst: %d looks, want 0", got)
		}

		// A bulk transfer starts: its first packet wakes follow, which paces from then on.
		buffered.Store(4 << 20)
		p.wait(1200)
		synctest.Wait()
		if p.rate.Load() == 0 || p.idle.Load() {
			t.Errorf("a bulk transfer after idle: rate %d, idle %v", p.rate.Load(), p.idle.Load())
		}
		close(done)
		synctest.Wait()
	})
}

// TestPacerSpreads checks the bucket's arithmetic through real time: a burst allowance goes out
// at once, the rest no faster than the rate (sleeps never end early, so the lower bound holds on
// any machine; the upper bound only catches a pacer that never lets go).
func TestPacerSpreads(t *testing.T) {
	var p pacer
	const rate = 20 << 20 // bytes per second; its 2 ms burst is below pacingBurst
	p.rate.Store(rate)
	start := time.Now()
	sent := 0
	for sent < pacingBurst {
		p.wait(1200)
		sent += 1200
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("the first %d bytes (the burst allowance) took %v", sent, d)
	}
	const total = 2 << 20
	for sent < total {
		p.wait(1200)
		sent += 1200
	}
	min := time.Duration(total-pacingBurst-1200) * time.Second / rate
	if d := time.Since(start); d < min || d > 20*min {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", total, rate, d, min)
	}

	p.rate.Store(0)
	start = time.Now()
	for range 10000 {
		p.wait(1200)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("an unpaced pacer held 12 MB for %v", d)
	}
}

// TestPacedNetSockets checks what pion gets from the paced network: unicast sockets paced and
// still on pion/ice's allocation-free AddrPort path, multicast (mDNS) sockets left bare, because
// golang.org/x/net joins multicast groups only on a *net.UDPConn.
func TestPacedNetSockets(t *testing.T) {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	pn := pacedNet{Net: bufferedNet{Net: n, log: slog.New(slog.DiscardHandler)}, p: newPacer()}
	uc, err := pn.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	type addrPortRW interface {
		ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	}
	rw, ok := uc.(addrPortRW)
	if !ok {
		t.Fatalf("a unicast socket is a %T without the AddrPort methods", uc)
	}
	to := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, err := rw.WriteToAddrPort([]byte("ping"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	k, from, err := rw.ReadFromAddrPort(buf)
	if err != nil || string(buf[:k]) != "ping" || from != to {
		t.Fatalf("read %q from %v (%v), want ping from %v", buf[:k], from, err, to)
	}

	mc, err := pn.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)})
	if err != nil {
		t.Skipf("no multicast socket here: %v", err)
	}
	defer mc.Close()
	if _, ok := mc.(*net.UDPConn); !ok {
		t.Errorf("a multicast socket is a %T, want the bare *net.UDPConn", mc)
	}
}
