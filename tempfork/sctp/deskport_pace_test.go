package sctp

import (
	"testing"
	"time"
)

// paceAssociation is floorAssociation with PaceFromDeliveryRate on or off, in congestion
// avoidance at an 8 MiB window, srtt 200 ms (the window's rate: 42 MB/s), minimum RTT 150 ms,
// and a measured delivery rate of 50 MB/s (a bandwidth-delay product of 7.5 MB).
func paceAssociation(t *testing.T, pace bool) *Association {
	t.Helper()
	client, _ := udpPair(t, Config{CwndFloorFromDeliveryRate: true, PaceFromDeliveryRate: pace}, Config{})
	client.lock.Lock()
	defer client.lock.Unlock()
	client.setCWND(8 << 20)
	client.ssthresh = 8 << 20
	client.srtt.Store(200.0)
	client.rack.rackMinRTTWnd.Push(time.Now(), 150*time.Millisecond)
	client.delivery.samples[0] = 50e6

	return client
}

// TestPacingRateFollowsDeliveryRate: outside slow start the rate is the delivery rate times the
// gain of the round (1.25, 0.75, then 1 for two rounds), not twice the window's rate (84 MB/s,
// what an application paced at without it).
func TestPacingRateFollowsDeliveryRate(t *testing.T) {
	a := paceAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	now := time.Now()
	round := func() {
		cum := a.myNextTSN - 1
		if a.rr.started {
			cum = a.rr.end
		}
		a.myNextTSN += 100
		a.roundRTTOnSackLocked(now, now.Add(-150*time.Millisecond), cum)
	}
	round() // starts the first round
	var got []float64
	for i := 0; i < 9; i++ {
		got = append(got, float64(a.pacingRateLocked(now))/50e6)
		round()
	}
	want := []float64{1.25, 0.75, 1, 1}
	start := -1 // the cycle may begin anywhere; find the probe
	for i, g := range got {
		if g > 1.2 {
			start = i

			break
		}
	}
	if start < 0 {
		t.Fatalf("no probing round in %v (rate / delivery rate, a round each)", got)
	}
	for i := start; i < len(got); i++ {
		if w := want[(i-start)%len(want)]; got[i] < w*0.999 || got[i] > w*1.001 {
			t.Fatalf("rate / delivery rate by round %v: want the cycle 1.25, 0.75, 1, 1", got)
		}
	}
}

// TestPacingRateOutsideCongestionAvoidance: in slow start the rate is twice cwnd / srtt; with
// the delivery rate measured at less than a quarter of the window (a resumed window whose
// samples so far are the idle handshake's), cwnd / minimum RTT; with a delivery rate below the
// window's own rate, the gain times the window's rate; without PaceFromDeliveryRate, no
// opinion (0).
func TestPacingRateOutsideCongestionAvoidance(t *testing.T) {
	a := paceAssociation(t, true)
	a.lock.Lock()
	a.ssthresh = 32 << 20
	if got, want := a.pacingRateLocked(time.Now()), uint64(2*float64(8<<20)/0.2); got < want-1 || got > want+1 {
		t.Errorf("slow start: rate %d, want 2 × cwnd / srtt = %d", got, want)
	}
	a.ssthresh = 8 << 20
	a.delivery.samples[0] = 1e6
	if got, want := a.pacingRateLocked(time.Now()), uint64(55924053); got < want-1 || got > want+1 {
		t.Errorf("rate measured at 1 MB/s under an 8 MiB window: rate %d, want cwnd / min RTT = %d", got, want)
	}
	a.delivery.samples[0] = 35e6
	gain := paceGains[a.pace.round%uint64(len(paceGains))]
	if got, want := a.pacingRateLocked(time.Now()), uint64(gain*float64(8<<20)/0.2); got < want-1 || got > want+1 {
		t.Errorf("delivery rate 35 MB/s under a window of 42 MB/s: rate %d, want %.2f × the window's rate = %d", got, gain, want)
	}
	a.lock.Unlock()
	if got := paceAssociation(t, false).PacingRate(); got != 0 {
		t.Errorf("without PaceFromDeliveryRate: rate %d, want 0", got)
	}
}

// TestPaceBoundsWindowGrowth: congestion avoidance stops growing the window at twice the
// measured bandwidth-delay product (50 MB/s × 150 ms = 7.5 MB: 15 MB), and grows it below that as
// before; without PaceFromDeliveryRate it grows whatever the measurement.
func TestPaceBoundsWindowGrowth(t *testing.T) {
	for _, pace := range []bool{true, false} {
		a := paceAssociation(t, pace)
		a.lock.Lock()
		if got := a.caStepLocked(); got == 0 {
			t.Errorf("pace %v: no growth at an 8 MiB window under a 15 MB bound", pace)
		}
		a.setCWND(15e6)
		if got := a.caStepLocked(); (got == 0) != pace {
			t.Errorf("pace %v: step %d at twice the measured bandwidth-delay product", pace, got)
		}
		a.lock.Unlock()
	}
}

// TestPaceRoundDeliveryRate: each round's delivery rate is measured from its first SACK to the
// next round's, so a round that delivered at 60 MB/s (what a probe at 1.25 × 50 brings back)
// raises the pacing rate although the fixed-interval samples, which average it with the rounds
// around it, stay at 50 MB/s.
func TestPaceRoundDeliveryRate(t *testing.T) {
	a := paceAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	now := time.Now()
	a.srtt.Store(1e6) // no fixed-interval sample closes during the test
	endRound := func() {
		cum := a.myNextTSN - 1
		if a.rr.started {
			cum = a.rr.end
		}
		a.myNextTSN += 100
		a.roundRTTOnSackLocked(now, now.Add(-150*time.Millisecond), cum)
	}
	endRound()
	a.sampleDeliveryLocked(now, 0)
	for i := 0; i < 15; i++ { // 150 ms at 60 MB/s
		now = now.Add(10 * time.Millisecond)
		a.sampleDeliveryLocked(now, 600e3)
	}
	endRound()
	bw := a.paceBandwidthLocked()
	if bw < 59e6 || bw > 61e6 {
		t.Fatalf("bandwidth %.1f MB/s after a round at 60 MB/s (intervals at 50): want 60", bw/1e6)
	}
}
