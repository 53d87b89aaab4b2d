package sctp

import "time"

// deskport: a sending rate from the measured delivery rate (Config.PaceFromDeliveryRate).
//
// The association cannot pace its own writes (it writes whole gathers to a net.Conn); the
// application paces them, and PacingRate tells it how fast. Without this an application paces
// at a multiple of cwnd / srtt, which is the rate the window allows, not the rate the path takes:
// on a long path whose receiver drains slower than the window arrives (a CPU-bound peer, or a
// bottleneck with a short queue) the window's excess over the bandwidth-delay product piles up
// in the queue in front of the receiver until it overflows — a burst loss, a fast recovery that
// halves the window, and for the round trip before it every small message (a key press) waits
// behind that queue. Traced on a 150 ms path (docs/bench.md): windows of 13–17 MiB where the
// receiver delivered 56 MB/s × 150 ms ≈ 8.4 MiB, paced at 120–145 MB/s, and 2500–3400 packets
// lost in the receiver's socket queue per 64 MiB.
//
// With PaceFromDeliveryRate, as BBR does (draft-cardwell-iccrg-bbr-congestion-control):
//   - outside slow start the pacing rate is the largest delivery rate of the last round trips
//     (the samples CwndFloorFromDeliveryRate takes) times a gain that cycles once per round:
//     1.25 for one round to probe for more, 0.75 for the next to drain what the probe queued,
//     1 for six. The window then no longer sets the rate, and the queue it would have built
//     stays in the sender, where the application's other messages can overtake it;
//   - congestion avoidance stops growing the window at twice the measured bandwidth-delay
//     product (delivery rate × minimum RTT; at least the minimum window), BBR's cwnd_gain: room
//     for the receiver's delays and the probe, but not the window of a rate the path has never
//     delivered;
//   - in slow start the rate stays twice cwnd / srtt (the window must double each round, and
//     the rate with it), and until the delivery rate has been measured at a quarter of the
//     window or more (a window resumed from an earlier association, whose first samples come
//     from the idle handshake) it is cwnd over the minimum RTT: the rate the resumed window was
//     measured at.
// Loss responses are unchanged (CwndFloorFromDeliveryRate's: half the window, not below the
// measured bandwidth-delay product).

// paceGains is the pacing gain of each round in the cycle (BBR's ProbeBW has six rounds at 1;
// two here, so that a rate measured low — the receiver's CPU was busy — is probed up again
// within four round trips).
var paceGains = [...]float64{1.25, 0.75, 1, 1}

// paceRounds is how many rounds' delivery rates the pacing rate's maximum looks back on (BBR's
// bandwidth filter).
const paceRounds = 10

// paceState counts rounds (deskport_round.go ends them) and measures each one's delivery rate:
// the bytes newly acknowledged from its first SACK to the first of the next, over that time. A
// round carries what one round of sending put in flight, so a probing round's rate shows in the
// samples; the fixed-interval samples of CwndFloorFromDeliveryRate straddle rounds and average
// a probe with the drain after it.
type paceState struct {
	round     uint64
	start     time.Time
	delivered int
	samples   [paceRounds]float64
}

// paceRoundEndLocked ends a round at now. The caller holds the lock.
func (a *Association) paceRoundEndLocked(now time.Time) {
	p := &a.pace
	if !p.start.IsZero() {
		if d := now.Sub(p.start); d > 0 {
			p.samples[p.round%paceRounds] = float64(p.delivered) / d.Seconds()
		}
	}
	p.round++
	p.start, p.delivered = now, 0
}

// paceBandwidthLocked is the largest delivery rate of the last rounds and of
// CwndFloorFromDeliveryRate's intervals, in bytes per second. The caller holds the lock.
func (a *Association) paceBandwidthLocked() float64 {
	var bw float64
	for _, r := range a.pace.samples {
		bw = max(bw, r)
	}
	for _, r := range a.delivery.samples {
		bw = max(bw, r)
	}

	return bw
}

const (
	// paceStartupGain is the pacing rate over cwnd / srtt in slow start.
	paceStartupGain = 2
	// paceCwndGain bounds congestion avoidance's growth: the window grows only while below
	// paceCwndGain × the measured bandwidth-delay product.
	paceCwndGain = 2
)

// WithPaceFromDeliveryRate makes PacingRate follow the measured delivery rate and bounds the
// window's growth by the measured bandwidth-delay product (deskport; see
// Config.PaceFromDeliveryRate). It needs WithCwndFloorFromDeliveryRate.
func WithPaceFromDeliveryRate(on bool) AssociationOption {
	return sharedOption(func(c *Config) error {
		c.PaceFromDeliveryRate = on

		return nil
	})
}

// PacingRate returns the rate in bytes per second at which the application should send the
// association's packets, or 0 when it has no opinion (PaceFromDeliveryRate off, or no RTT
// measured yet).
func (a *Association) PacingRate() uint64 {
	a.lock.RLock()
	defer a.lock.RUnlock()
	if !a.paceFromRate {
		return 0
	}

	return a.pacingRateLocked(time.Now())
}

// pacingRateLocked is PacingRate's value. The caller holds the lock.
func (a *Association) pacingRateLocked(now time.Time) uint64 {
	srtt := a.SRTT() / 1000
	cwnd := float64(a.CWND())
	if srtt <= 0 || cwnd == 0 {
		return 0
	}
	if a.CWND() < a.ssthresh {
		return uint64(paceStartupGain * cwnd / srtt)
	}
	bw := a.paceBandwidthLocked()
	minRTT := a.rack.rackMinRTTWnd.Min(now).Seconds()
	if minRTT <= 0 {
		minRTT = srtt
	}
	if bw*minRTT < cwnd/4 {
		return uint64(cwnd / minRTT)
	}

	// Never below the window's own rate (cwnd / srtt, what the acknowledgements clock out
	// unpaced): a delivery rate measured while the receiver was busy must not hold the
	// association below what its window already carries.
	bw = max(bw, cwnd/srtt)

	return uint64(paceGains[a.pace.round%uint64(len(paceGains))] * bw)
}

// paceGrowthAllowedLocked reports whether congestion avoidance may grow the window: always
// without PaceFromDeliveryRate, and with it while the window is below paceCwndGain × the
// measured bandwidth-delay product (or the minimum window). The caller holds the lock.
func (a *Association) paceGrowthAllowedLocked(now time.Time) bool {
	if !a.paceFromRate {
		return true
	}
	bdp := a.paceBandwidthLocked() * a.rack.rackMinRTTWnd.Min(now).Seconds()
	if bdp <= 0 {
		return true
	}

	return float64(a.CWND()) < max(paceCwndGain*bdp, float64(a.minCwnd))
}
