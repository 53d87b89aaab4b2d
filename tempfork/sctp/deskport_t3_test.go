package sctp

import (
	"sync"
	"testing"
	"time"
)

// t3Pair connects two associations through a 10 MB/s, 20 ms in-memory bottleneck whose queue
// never drops, with a 100 ms minimum RTO on the client. Once the client has sent 2 MiB, event
// is called once with the link (under no lock) and the client's cwnd at that moment; drop, if
// set, decides for each later client packet whether it is lost.
func t3Pair(t *testing.T, event func(link *bottleneck, cwnd uint32), drop func() bool) (client, server *Association, sentBytes func() int) {
	t.Helper()
	var (
		mu    sync.Mutex
		sent  int
		fired bool
		link  *bottleneck // set once the handshake is done, before 2 MiB are sent
		cl    *Association
	)
	filter := func(raw []byte) bool {
		mu.Lock()
		sent += len(raw)
		fire := !fired && sent >= 2<<20 && cl != nil
		fired = fired || fire
		l, c := link, cl
		mu.Unlock()
		if fire {
			event(l, c.CWND())
		}
		if fired && drop != nil {
			return drop()
		}

		return false
	}
	c, s, l := lossyBottleneckPair(t, Config{MinCwnd: 16 << 10, RTOMin: 100},
		Config{MaxReceiveBufferSize: 1 << 20}, 10e6, 20*time.Millisecond, filter)
	mu.Lock()
	link, cl = l, c
	mu.Unlock()
	client, server = c, s

	return client, server, func() int {
		mu.Lock()
		defer mu.Unlock()

		return sent
	}
}

// TestT3SpuriousTimeoutIsUndone: the link stops for a second (a receiver that was descheduled,
// a path that holds packets) and then delivers everything; nothing was lost. The T3-rtx timer
// fires meanwhile, and once the originals are acknowledged the association must find the
// timeout spurious and go back to the window it had, instead of starting again from its
// minimum window.
func TestT3SpuriousTimeoutIsUndone(t *testing.T) {
	client, server, _ := t3Pair(t, func(link *bottleneck, _ uint32) {
		link.mu.Lock()
		link.nextFree = link.nextFree.Add(time.Second)
		link.mu.Unlock()
	}, nil)
	sendThroughBottleneck(t, client, server, 4<<20)
	client.lock.RLock()
	defer client.lock.RUnlock()
	t3, undone := client.stats.getNumT3Timeouts(), client.spuriousT3s
	if t3 == 0 {
		t.Fatal("no T3-rtx timeout during a 1 s stall: the test did not test anything")
	}
	if undone == 0 {
		t.Fatalf("%d T3-rtx timeouts, none found spurious, though nothing was lost", t3)
	}

}

// outagePair is t3Pair whose link loses every client packet for a second once 2 MiB went;
// before is the client's cwnd when the outage began.
func outagePair(t *testing.T) (client, server *Association, sentBytes func() int, before func() uint32) {
	t.Helper()
	var (
		mu    sync.Mutex
		until time.Time
		cwnd0 uint32
	)
	client, server, sentBytes = t3Pair(t, func(_ *bottleneck, cwnd uint32) {
		mu.Lock()
		defer mu.Unlock()
		cwnd0 = cwnd
		until = time.Now().Add(time.Second)
	}, func() bool {
		mu.Lock()
		defer mu.Unlock()

		return time.Now().Before(until)
	})

	return client, server, sentBytes, func() uint32 {
		mu.Lock()
		defer mu.Unlock()

		return cwnd0
	}
}

// TestT3RepeatedTimeoutHoldsSsthresh: the link loses everything from some point on, so the
// T3-rtx timer fires again and again and no acknowledgement comes back. The first timeout
// halves ssthresh; the later ones, for data a timeout already resent, must hold it (RFC 5681
// 3.1), not cut it to 4 MTUs from the one-MTU window the first timeout left.
func TestT3RepeatedTimeoutHoldsSsthresh(t *testing.T) {
	var (
		mu     sync.Mutex
		sent   int
		first  uint32 // the first DATA chunk lost
		copies int    // how often it was sent
		cl     *Association
		before uint32
	)
	third := make(chan struct{})
	drop := func(raw []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		sent += len(raw)
		if cl == nil || sent < 512<<10 { // the peer reads nothing: stay under its 1 MiB buffer
			return false
		}
		p := &packet{}
		if err := p.unmarshal(false, raw); err != nil {
			return true
		}
		for _, c := range p.chunks {
			d, ok := c.(*chunkPayloadData)
			if !ok {
				continue
			}
			if copies == 0 {
				first, before = d.tsn, cl.CWND()
			}
			if d.tsn == first {
				if copies++; copies == 3 { // the original, and a resend at each of two timeouts
					close(third)
				}
			}
		}

		return true
	}
	client, _, _ := lossyBottleneckPair(t, Config{MinCwnd: 16 << 10, RTOMin: 100},
		Config{MaxReceiveBufferSize: 1 << 20}, 10e6, 20*time.Millisecond, drop)
	mu.Lock()
	cl = client
	mu.Unlock()
	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 16<<10)
	for i := 0; i < 256; i++ { // 4 MiB, queued: the association sends them as it can
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-third:
	case <-time.After(20 * time.Second):
		t.Fatal("the lost chunk was not resent twice in 20 s")
	}
	client.lock.RLock()
	t3, ssthresh := client.stats.getNumT3Timeouts(), client.ssthresh
	client.lock.RUnlock()
	mu.Lock()
	defer mu.Unlock()
	if t3 < 2 {
		t.Fatalf("the lost chunk was sent 3 times with %d T3-rtx timeouts; want 2", t3)
	}
	if want := max32(before/2, 4*client.MTU()); ssthresh < want {
		t.Fatalf("ssthresh %d after %d timeouts, %d after the first (cwnd %d before): a repeated timeout cut it again",
			ssthresh, t3, want, before)
	}
}

// TestT3RetransmissionsFollowTheWindow: after the outage above, the timeout has marked the whole
// window for retransmission, about the size of the peer's receive buffer. The retransmissions
// must go out as acknowledgements make room — not one chunk per SACK (a receive window that
// still counts the marked chunks as outstanding is about zero), which crawls through the window
// while the timer fires again and again, nor a minimum window on every SACK. So: no more
// timeouts than the outage itself causes (at a 100 ms minimum RTO backed off 0.1, 0.2, 0.4,
// 0.8 s: four) and a couple more, and little more sent than the transfer plus the window that was lost.
func TestT3RetransmissionsFollowTheWindow(t *testing.T) {
	const size = 4 << 20
	client, server, sentBytes, _ := outagePair(t)
	sendThroughBottleneck(t, client, server, size)
	client.lock.RLock()
	t3 := client.stats.getNumT3Timeouts()
	client.lock.RUnlock()
	if t3 > 6 { // the outage's four, and some slack for a loaded machine; without the change, 13
		t.Fatalf("%d T3-rtx timeouts for a 1 s outage: the recovery after it timed out again", t3)
	}
	// What was in flight when the outage began is sent twice (the window is at most the peer's
	// 1 MiB buffer), and the first chunk once more at each timeout. Headers add ~3%.
	if sent := sentBytes(); sent > size+size/2 {
		t.Fatalf("the client sent %.1f MiB to deliver %.1f MiB across a 1 s outage",
			float64(sent)/(1<<20), float64(size)/(1<<20))
	}
}

// TestT3FastAcknowledgedRetransmissionIsNotSpurious: after a timeout, the earliest chunk's
// retransmission is acknowledged 1 ms after it was sent, on a path whose minimum RTT was
// measured at 100 ms under load. That is the retransmission filling a hole on a path the
// timeout emptied, not the original arriving late: no undo without the peer reporting the
// copy as a duplicate (a timing rule undid it, and the association repaired one hole per RTO).
func TestT3FastAcknowledgedRetransmissionIsNotSpurious(t *testing.T) {
	a := floorAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	now := time.Now()
	a.rack.rackMinRTTWnd.Push(now, 100*time.Millisecond)
	a.setCWND(4 << 20)
	a.t3ArmUndoLocked(now.Add(-2 * time.Millisecond))
	a.setCWND(a.minCwnd)
	c := &chunkPayloadData{tsn: a.t3u.tsn, nSent: 2, since: now.Add(-time.Millisecond)}
	a.t3CheckUndoLocked(c, now)
	if a.spuriousT3s != 0 || a.CWND() != a.minCwnd {
		t.Fatalf("timeout undone (%d, cwnd %d) on the acknowledgement of its retransmission", a.spuriousT3s, a.CWND())
	}
	if a.t3u.dupUntil.IsZero() || a.t3u.dupsWant != 1 {
		t.Fatalf("undo record %+v: want it waiting for one duplicate report", a.t3u)
	}
	a.t3CheckDuplicatesLocked([]uint32{c.tsn}, now)
	if a.spuriousT3s != 1 || a.CWND() != 4<<20 {
		t.Fatalf("after the peer reported the copy as a duplicate: %d undone, cwnd %d; want the timeout undone", a.spuriousT3s, a.CWND())
	}
}
