package sctp

// deskport: tail-loss recovery does not govern the recovery from a T3-rtx timeout.
//
// pion's tail-loss recovery (TLR) starts when the probe timeout (PTO, 2 × srtt without a SACK
// that advances anything) fires, and until the cumulative TSN ack reaches the highest TSN then
// outstanding it bounds every pass of the write loop — retransmissions and new data alike — to
// a burst of 4 MTUs in its first round trip and 2 MTUs after (less after further losses). A
// pass runs when a SACK arrives, and a SACK acknowledges about two packets: while TLR lasts
// the association sends two packets a round trip, whatever its window. That suits the tail of
// a few small messages it was written for. But a receiver that stops acknowledging for 2 ×
// srtt (a CPU-bound peer on a loaded machine) with a bulk window outstanding starts it too,
// and when that window has losses — and after a T3-rtx timeout, which marks the whole window
// for retransmission — their repair crawls at two packets a round trip: traced at the end of a
// 64 MiB transfer over a 150 ms path (docs/bench.md), a T3-rtx with 0.9 MB outstanding, then
// 10 KB resent every 250 ms until the bench's 20 s limit: the "collapsed" runs at 3–4 MB/s.
//
// After a T3-rtx timeout the congestion window already starts over from its minimum (RFC 4960
// 7.2.3, slow start), and retransmissions follow the pipe (deskport_t3.go): the timeout ends
// TLR, and a PTO that fires before the cumulative TSN ack has passed everything outstanding at
// the timeout does not start it again (it still marks its probe).

// t3EndTailLossRecoveryLocked is called at a T3-rtx timeout: it ends TLR and notes the highest
// TSN outstanding, up to which the window alone governs the recovery. The caller holds the lock.
func (a *Association) t3EndTailLossRecoveryLocked() {
	a.tlrActive, a.tlrFirstRTT = false, false
	if end, ok := a.tlrHighestOutstandingTSNLocked(); ok {
		a.t3RecoverEnd, a.t3Recovering = end, true
	}
}

// inT3RecoveryLocked reports whether the association is still repairing what a T3-rtx timeout
// marked: the cumulative TSN ack has not reached the highest TSN outstanding at the timeout.
// The caller holds the lock.
func (a *Association) inT3RecoveryLocked() bool {
	if a.t3Recovering && sna32GTE(a.cumulativeTSNAckPoint, a.t3RecoverEnd) {
		a.t3Recovering = false
	}

	return a.t3Recovering
}
