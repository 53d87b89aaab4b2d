package sctp

import (
	"testing"
	"time"
)

// TestFloorGrowthFromRoundRTT: congestion avoidance judges the queue by the last round's
// smallest RTT, not by a smoothed RTT that still carries the high samples of the association's
// first round trips: at srtt 270 ms and a minimum of 150 ms, a round whose samples are back at
// 155 ms grows the window by a quarter; a round that stayed at 200 ms (a standing queue) by one
// step; a round of fewer than 8 samples decides nothing.
func TestFloorGrowthFromRoundRTT(t *testing.T) {
	a := floorAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	a.setCWND(8 << 20)
	now := time.Now()
	a.rack.rackMinRTTWnd.Push(now, 150*time.Millisecond)
	a.srtt.Store(270.0)
	fast, plain := uint32(8<<20)/caGrowthDivisor, max(a.MTU(), a.cwndCAStep)
	if got := a.caStepLocked(); got != plain {
		t.Fatalf("step %d before any round, srtt 270 ms: want the plain step %d", got, plain)
	}

	// round acknowledges one round's chunks with n samples of rtt each; the first SACK reaches
	// the previous round's end and starts the round.
	round := func(rtt time.Duration, n int) {
		t.Helper()
		cum := a.myNextTSN - 1 // every SACK of the round acknowledges up to the last round's end
		if a.rr.started {
			cum = a.rr.end
		}
		a.myNextTSN += 100
		for i := 0; i < n; i++ {
			now = now.Add(time.Millisecond)
			a.roundRTTOnSackLocked(now, now.Add(-rtt), cum)
		}
	}
	round(155*time.Millisecond, 10)
	round(200*time.Millisecond, 10) // its first SACK ends the round of 155 ms samples
	if got := a.caStepLocked(); got != fast {
		t.Fatalf("step %d after a round at 155 ms (min 150 ms, srtt 270 ms): want a quarter of cwnd, %d", got, fast)
	}
	round(150*time.Millisecond, 1) // ends the round of 200 ms samples
	if got := a.caStepLocked(); got != plain {
		t.Fatalf("step %d after a round at 200 ms (min 150 ms): want the plain step %d", got, plain)
	}
	round(160*time.Millisecond, 3)
	round(160*time.Millisecond, 1) // the 3-sample round at 160 ms is too short to count
	if got := a.caStepLocked(); got != plain {
		t.Fatalf("step %d after a round of 3 samples: want the last full round's plain step %d", got, plain)
	}
}

// TestRoundRTTNeedsTheFloor: without CwndFloorFromDeliveryRate nothing is tracked.
func TestRoundRTTNeedsTheFloor(t *testing.T) {
	a := floorAssociation(t, false)
	a.lock.Lock()
	defer a.lock.Unlock()
	now := time.Now()
	for i := 0; i < 20; i++ {
		a.roundRTTOnSackLocked(now, now.Add(-100*time.Millisecond), a.myNextTSN)
	}
	if a.rr.started || a.rr.n != 0 {
		t.Fatalf("round tracked without the floor: %+v", a.rr)
	}
}
