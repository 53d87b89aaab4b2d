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
	var before uint32
	client, server, _ := t3Pair(t, func(link *bottleneck, cwnd uint32) {
		before = cwnd
		link.mu.Lock()
		link.nextFree = link.nextFree.Add(time.Second)
		link.mu.Unlock()
	}, nil)
	sendThroughBottleneck(t, client, server, 4<<20)
	client.lock.RLock()
	defer client.lock.RUnlock()
	t3, undone, cwnd := client.stats.getNumT3Timeouts(), client.spuriousT3s, client.CWND()
	if t3 == 0 {
		t.Fatalf("no T3-rtx timeout during a 1 s stall (cwnd %d): the test did not test anything", cwnd)
	}
	if undone == 0 {
		t.Fatalf("%d T3-rtx timeouts, none found spurious, though nothing was lost", t3)
	}
	if cwnd < before {
		t.Fatalf("cwnd %d after the stall, %d before: the spurious timeout was not undone", cwnd, before)
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

// TestT3RepeatedTimeoutHoldsSsthresh: the link loses everything for a second, so the T3-rtx
// timer fires several times and its retransmissions are lost too. The first timeout halves
// ssthresh; the later ones, for data a timeout already resent, must hold it (RFC 5681 3.1),
// not cut it to 4 MTUs from the one-MTU window the first timeout left.
func TestT3RepeatedTimeoutHoldsSsthresh(t *testing.T) {
	client, server, _, cwnd0 := outagePair(t)
	sendThroughBottleneck(t, client, server, 4<<20)
	before := cwnd0()
	client.lock.RLock()
	defer client.lock.RUnlock()
	t3, undone, ssthresh := client.stats.getNumT3Timeouts(), client.spuriousT3s, client.ssthresh
	if t3 < 2 {
		t.Fatalf("%d T3-rtx timeouts during a 1 s outage: the test did not test anything", t3)
	}
	if undone != 0 {
		t.Fatalf("%d of %d T3-rtx timeouts taken for spurious, though everything sent was lost", undone, t3)
	}
	if ssthresh < before/2 {
		t.Fatalf("ssthresh %d after %d timeouts, cwnd %d before them: a repeated timeout cut it again", ssthresh, t3, before)
	}
}

// TestT3RetransmissionsFollowTheWindow: after the outage above, the timeout has marked the whole
// window for retransmission. The retransmissions must go out as acknowledgements make room in
// the window, not a minimum window on every SACK: the client may send little more than the
// transfer plus the window that was lost.
func TestT3RetransmissionsFollowTheWindow(t *testing.T) {
	const size = 4 << 20
	client, server, sentBytes, _ := outagePair(t)
	start := time.Now()
	sendThroughBottleneck(t, client, server, size)
	took := time.Since(start)
	// What was in flight when the outage began is sent twice, and so is the first chunk at
	// each timeout; the window is at most the peer's 1 MiB buffer. Headers add ~3%.
	if sent := sentBytes(); sent > size+size/2 {
		t.Fatalf("the client sent %.1f MiB to deliver %.1f MiB across a 1 s outage (in %v)",
			float64(sent)/(1<<20), float64(size)/(1<<20), took)
	}
}
