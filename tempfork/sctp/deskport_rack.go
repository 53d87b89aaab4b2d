package sctp

import "time"

// deskport: RACK detects lost retransmissions (RFC 8985 section 6.2).
//
// Upstream's RACK loss detection skipped every chunk sent more than once, so a retransmission
// that was lost again waited for the T3-rtx timer, which then collapses the window to one MTU
// and resends everything outstanding. After a burst loss of a few thousand packets (a receiver
// that falls behind, a router queue that overflows) the retransmissions go out into the same
// overloaded queue, some are lost again, and the association stalled for an RTO (0.5–0.9 s on
// a 150 ms path) before starting over from its minimum window. RFC 8985 judges a retransmitted
// segment like any other, by its latest transmission time: it is lost once a segment sent
// later (by more than the reordering window) has been delivered. To keep that from marking
// chunks lost on the strength of an ambiguous acknowledgement, a chunk that was retransmitted
// and is acknowledged sooner than the minimum RTT after its retransmission does not advance
// RACK's delivered time: the acknowledgement is most likely for the original (RFC 8985
// section 6.2, step 2).

// rackUnambiguousLocked reports whether the delivery of c can advance RACK's delivered time
// (RACK.xmit_ts): an original transmission always can; a retransmission only if it was
// acknowledged at least the minimum RTT after it was sent. The caller holds the lock.
func (a *Association) rackUnambiguousLocked(c *chunkPayloadData, now time.Time) bool {
	if c.nSent <= 1 {
		return true
	}
	minRTT := a.rack.rackMinRTTWnd.Min(now)

	return minRTT <= 0 || now.Sub(c.since) >= minRTT
}
