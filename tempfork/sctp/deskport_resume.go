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
// (the largest delivery rate of the last round trips times the smoothed RTT: the bytes one
// round trip carried at that rate, in bytes; 0 without measurements) and the minimum RTT (0
// without samples). The delivery rate is measured only with Config.CwndFloorFromDeliveryRate on.
func (a *Association) PathWindow() (window uint32, minRTT time.Duration) {
	a.lock.RLock()
	defer a.lock.RUnlock()
	var rate float64
	for _, r := range a.delivery.samples {
		rate = max(rate, r)
	}
	w := rate * a.SRTT() / 1000
	if w > 0 && w <= float64(^uint32(0)) {
		window = uint32(w)
	}

	return window, a.rack.rackMinRTTWnd.Min(time.Now())
}

// ResumeWindow raises the congestion window to window bytes, as if slow start had grown it
// there: slow start continues from it (ssthresh stays the peer's window until the first loss).
// It does nothing once the association has seen a loss (fast retransmit or T3-rtx) or when
// window is not above the current congestion window, and reports whether it changed the
// window. Starting congestion avoidance at the remembered window instead was measured worse: a
// session that went badly leaves a small window, and the next one then crawled up from it by
// one step a round trip, slower than slow start from the initial window.
func (a *Association) ResumeWindow(window uint32) bool {
	a.lock.Lock()
	defer a.lock.Unlock()
	if !a.ssthreshFromPeerWindow || window <= a.CWND() {
		return false
	}
	a.setCWND(window)
	a.log.Debugf("[%s] resumed cwnd=%d ssthresh=%d", a.name, a.CWND(), a.ssthresh)

	return true
}
