package sctp

import "time"

// deskport: a loss response bounded by the measured bandwidth-delay product
// (Config.CwndFloorFromDeliveryRate).
//
// SCTP's congestion control (RFC 4960 7.2.3) halves cwnd on every loss event. On a path with
// random loss (Wi-Fi, mobile, a long lossy link) losses come every few RTTs whatever the sending
// rate, so the window never grows past about MSS/RTT × 1.22/√p: at 150 ms and 1% loss, with
// 1191-byte packets, well under 1 MB/s. With the floor, a loss cuts cwnd to half as before but
// not below what the association has just delivered in one round trip: the largest delivery
// rate of the last deliveryRateSamples round trips times the smallest RTT seen (RACK's 30 s
// window), and never above cwnd itself. A random loss on a path that is not full leaves the
// window near where it was, as BBR's model does; a loss from a queue that has built up (the RTT
// above the minimum, so the delivered rate × minimum RTT is below cwnd) still cuts the window to
// the path's measured capacity, which drains the queue.

// deliveryRateSamples is how many round-trip intervals the rate maximum looks back on.
const deliveryRateSamples = 8

// deliveryRate measures what SACKs acknowledge over intervals of one smoothed RTT.
type deliveryRate struct {
	start     time.Time
	delivered int
	samples   [deliveryRateSamples]float64 // bytes per second
	next      int
}

// sampleDeliveryLocked counts n newly acknowledged bytes (cumulatively or by a gap block).
// The caller holds the lock.
func (a *Association) sampleDeliveryLocked(now time.Time, n int) {
	if !a.rateFloor {
		return
	}
	a.pace.delivered += n // deskport_pace.go: the round's delivery rate
	d := &a.delivery
	if d.start.IsZero() {
		d.start = now

		return
	}
	d.delivered += n
	interval := time.Duration(a.SRTT() * float64(time.Millisecond))
	elapsed := now.Sub(d.start)
	if elapsed < max(interval, time.Millisecond) {
		return
	}
	d.samples[d.next%deliveryRateSamples] = float64(d.delivered) / elapsed.Seconds()
	d.next++
	d.start, d.delivered = now, 0
}

// deliveredBDPLocked is the largest recent delivery rate times the minimum RTT, in bytes; 0
// without measurements. The caller holds the lock.
func (a *Association) deliveredBDPLocked(now time.Time) uint32 {
	var rate float64
	for _, r := range a.delivery.samples {
		rate = max(rate, r)
	}
	minRTT := a.rack.rackMinRTTWnd.Min(now)
	bdp := rate * minRTT.Seconds()
	if bdp <= 0 || bdp > float64(^uint32(0)) {
		return 0
	}

	return uint32(bdp)
}

// lossThresholdLocked is the ssthresh after a loss (fast retransmit or T3-rtx): RFC 4960's
// max(cwnd/2, 4 × MTU), raised to the delivered bandwidth-delay product (at most cwnd) with
// the floor on. The caller holds the lock.
func (a *Association) lossThresholdLocked(now time.Time) uint32 {
	ssthresh := max32(a.CWND()/2, 4*a.MTU())
	if a.rateFloor {
		ssthresh = max32(ssthresh, min32(a.deliveredBDPLocked(now), a.CWND()))
	}

	return ssthresh
}

// WithCwndFloorFromDeliveryRate bounds the congestion window's cut on a loss by the
// bandwidth-delay product the association has measured (deskport; see
// Config.CwndFloorFromDeliveryRate).
func WithCwndFloorFromDeliveryRate(on bool) AssociationOption {
	return sharedOption(func(c *Config) error {
		c.CwndFloorFromDeliveryRate = on

		return nil
	})
}

// growWithFloorLocked lets the window grow, with the floor on, where RFC 4960 would not: during
// fast recovery, and on SACKs that acknowledge by gap blocks alone. With a loss every round
// trip the association is nearly always in fast recovery and its cumulative point rarely moves,
// so the window would stay where the last loss left it; the floor keeps losses from cutting it,
// this lets it grow by one CA step per window of acknowledged bytes, as congestion avoidance
// does. (Where RFC 4960 already grows the window — slow start outside recovery, CA on a SACK
// that advances the cumulative point — this does nothing.) The caller holds the lock.
func (a *Association) growWithFloorLocked(n int, cumAdvanced bool) {
	if !a.rateFloor || n <= 0 || a.pendingQueue.size() == 0 {
		return
	}
	inCA := a.CWND() > a.ssthresh
	if (inCA && cumAdvanced) || (!inCA && !a.inFastRecovery) {
		return
	}
	a.partialBytesAcked += uint32(n) //nolint:gosec // G115
	if a.partialBytesAcked >= a.CWND() {
		a.partialBytesAcked -= a.CWND()
		a.setCWND(a.CWND() + a.caStepLocked())
	}
}

// newRTOManagerMin is newRTOManager with a minimum RTO below RFC 4960's 1 s (0: the default).
// On a 150 ms path with random loss a lost retransmission waits for the T3-rtx timer, and a
// 1 s minimum stalls the association for six round trips each time; Linux's TCP uses 200 ms.
func newRTOManagerMin(rtoMax, rtoMinMs float64) *rtoManager {
	m := newRTOManager(rtoMax)
	if rtoMinMs > 0 {
		m.rtoMin = min(rtoMinMs, m.rtoMax)
	}

	return m
}

// WithRTOMin sets the minimum retransmission timeout in milliseconds (deskport; RFC 4960's
// RTO.Min is 1 s).
func WithRTOMin(rtoMin float64) AssociationOption {
	return sharedOption(func(c *Config) error {
		if rtoMin <= 0 {
			return errInvalidRTOMax
		}
		c.RTOMin = rtoMin

		return nil
	})
}

// caGrowthDivisor: with the floor on, congestion avoidance grows the window by at least
// 1/caGrowthDivisor of itself per window of acknowledged bytes. A fixed step takes hundreds of
// round trips to refill a window of several MiB (at 16 KiB a step, 2 MiB is 128 RTTs: 19 s at
// 150 ms); with the floor, a loss no longer undoes the growth, and a loss that does come from a
// full queue cuts the window back to the measured path. Measured over a 150 ms vnet path with 1%
// loss (64 MiB): 1/8 gave 2.8–3.7 MB/s, 1/4 4.5–4.9 MB/s (docs/bench.md).
const caGrowthDivisor = 4

// caStepLocked is congestion avoidance's increase per window of acknowledged bytes: one MTU (or
// the configured step); with the floor on and no queue building (queueingLocked), at least
// 1/caGrowthDivisor of the window. The caller holds the lock.
func (a *Association) caStepLocked() uint32 {
	if !a.paceGrowthAllowedLocked(time.Now()) {
		return 0 // deskport_pace.go: the window is twice the measured bandwidth-delay product
	}
	step := max(a.MTU(), a.cwndCAStep)
	if a.rateFloor && !a.queueingLocked(time.Now()) {
		step = max(step, a.CWND()/caGrowthDivisor)
	}

	return step
}

// queueingLocked reports whether the recent RTT (the last round's smallest sample,
// deskport_round.go) is a quarter or more above the minimum: a queue is building somewhere on
// the path (or in the receiver), and growing the window faster than one step a round trip would
// only make it longer — and delay every small message behind it. The caller holds the lock.
func (a *Association) queueingLocked(now time.Time) bool {
	minRTT := a.rack.rackMinRTTWnd.Min(now)

	return minRTT <= 0 || a.recentRTTLocked() > minRTT+minRTT/4
}
