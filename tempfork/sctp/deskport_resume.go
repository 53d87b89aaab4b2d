package sctp

import "time"

// deskport: resuming a congestion window learned by an earlier association over the same path
// (temporal sharing, RFC 9040 section 4.2, as TCP's metrics cache does for ssthresh).
//
// A new association starts from its initial window and needs one round trip per doubling to
// reach the path's bandwidth-delay product: from 256 KiB to 8 MiB is five round trips, most of
// a second at 150 ms, and a transfer of a few tens of MiB spends most of its time there. An
// application that remembers what an earlier association to the same peer over the same path
// measured (PathWindow) can start the next one at that window (ResumeWindow), a few round
// trips up the slow-start curve, at what the path carried last time. Whether the path
// is the same (the RTT close to the remembered one), how old a remembered window may be and
// how it decays are the application's choice; the association only refuses to resume once it
// has lost anything, since its own measurement is then better than any remembered one.

// PathWindow returns what the association has measured of its path: the window it delivered
// (the largest delivery rate of the last round trips times the minimum RTT, and a quarter more:
// the bytes one round trip carries at that rate, with room; 0 without measurements) and the
// minimum RTT (0 without samples). The delivery rate is measured only with Config.CwndFloorFromDeliveryRate on.
func (a *Association) PathWindow() (window uint32, minRTT time.Duration) {
	a.lock.RLock()
	defer a.lock.RUnlock()
	var rate float64
	for _, r := range a.delivery.samples {
		rate = max(rate, r)
	}
	minRTT = a.rack.rackMinRTTWnd.Min(time.Now())
	w := rate * minRTT.Seconds() * pathWindowGain
	if w > 0 && w <= float64(^uint32(0)) {
		window = uint32(w)
	}

	return window, minRTT
}

// pathWindowGain is the window PathWindow reports over the measured bandwidth-delay product:
// room for the receiver's and the pacer's delays, without the smoothed RTT's load. (It was the
// rate times the smoothed RTT, which the association's first round trips leave 1.3–1.9 times
// the minimum on a 150 ms path; a window resumed from that overran the receiver in its first
// round trip. Resumed runs, 3 × 4 interleaved on a loaded machine: median 43.7 → 48.5 MB/s, and
// no run under 40 against one of 10.4.)
const pathWindowGain = 1.25

// ResumeWindow raises the congestion window to window bytes. Without
// Config.CwndFloorFromDeliveryRate slow start continues from it (ssthresh stays the peer's
// window until the first loss); with it, congestion avoidance starts there (ssthresh = window),
// whose growth by a quarter of the window a round trip while no queue builds (caStepLocked,
// judged by the last round's smallest RTT) probes upward without slow start's doubling. On the
// 150 ms vnet path a doubling from a resumed 12–23 MiB overran the receiver within a round trip
// and cost a fast recovery in most runs (resumed runs, pooled over 3 × 4 interleaved: median
// 67.7 MB/s continuing slow start, 75.2 from congestion avoidance). Before the queue test used
// the round's RTT, congestion avoidance from a small remembered window crawled one step a
// round trip, and slow start was the better choice. It does nothing once the association has
// seen a loss (fast retransmit or T3-rtx) or when window is not above the current congestion
// window, and reports whether it changed the window.
func (a *Association) ResumeWindow(window uint32) bool {
	a.lock.Lock()
	defer a.lock.Unlock()
	if !a.ssthreshFromPeerWindow || window <= a.CWND() {
		return false
	}
	a.setCWND(window)
	if a.rateFloor {
		a.ssthresh, a.ssthreshFromPeerWindow = window, false
	}
	a.log.Debugf("[%s] resumed cwnd=%d ssthresh=%d", a.name, a.CWND(), a.ssthresh)

	return true
}
