package sctp

import "time"

// deskport: a T3-rtx timeout that was spurious is undone, and a repeated one does not cut
// ssthresh again.
//
// On a long path whose receiver shares a loaded CPU with other work, SACKs can stop for longer
// than the RTO (srtt + 4 × rttvar, 200 ms at least with Config.RTOMin) while nothing is lost:
// the receiver was descheduled, or it processed a burst of thousands of packets late. The T3-rtx
// timer then fires, RFC 4960 6.3.3 sets cwnd to one MTU (the configured minimum) and marks
// every outstanding chunk for retransmission, and the SACK that arrives a moment later
// acknowledges the originals. The association has thrown away a window of several MiB for
// nothing, and resends, a minimum window at a time, data the peer already holds.
//
// Two rules from TCP fix that:
//
//   - Spurious timeout undo (RFC 4015's Eifel response, with the detection SCTP allows without
//     timestamps). The timeout records cwnd and ssthresh as they were and the earliest
//     outstanding TSN. When that TSN is acknowledged, the timeout was spurious if the chunk had
//     not been retransmitted since (the acknowledgement is for an earlier transmission), or if
//     the peer then reports every copy but one as a duplicate TSN (RFC 3708: all copies
//     arrived, the original among them). (Until 2026-12-05 an acknowledgement sooner than half
//     the minimum RTT after the retransmission counted too, RFC 8985 6.2 step 2's test; but the
//     minimum RTT is measured under load, and once a timeout has emptied the path a
//     retransmission that fills a real hole comes back far sooner: on loopback under CPU load
//     every timeout was "undone", its other marks dropped, and the association repaired one hole
//     per RTO — 4 MiB took 8–20 s in a third of TestResumeWindow's runs.) Then
//     cwnd and ssthresh go back to what they were, and the chunks the timeout marked that have
//     not been resent yet are not resent. A real timeout (the acknowledgement came a round trip
//     after the retransmission) keeps RFC 4960's response.
//   - A repeated timeout holds ssthresh (RFC 5681 section 3.1: "when a TCP sender detects
//     segment loss using the retransmission timer and the given segment has already been
//     retransmitted by way of the retransmission timer at least once, the value of ssthresh is
//     held constant"). RFC 4960's max(cwnd/2, 4 × MTU) after a timeout that already set cwnd
//     to one MTU is 4 MTUs (with the delivery-rate floor, the minimum window): the path's
//     measure is lost, and the association crawls back up in congestion avoidance, a step a
//     round trip, for the rest of the transfer.

// t3Undo is what a T3-rtx timeout changed, kept until the earliest TSN it found outstanding is
// acknowledged.
type t3Undo struct {
	armed    bool
	at       time.Time // when the timer fired
	tsn      uint32    // the earliest outstanding TSN then
	cwnd     uint32    // cwnd before the timeout
	ssthresh uint32    // ssthresh before the timeout
	dupUntil time.Time // set once tsn was acknowledged ambiguously: how long to wait for its duplicates
	dupsWant uint32    // how many duplicate reports of tsn show that every copy arrived
	dups     uint32    // duplicate reports of tsn so far
}

// t3ThresholdLocked is ssthresh after a T3-rtx timeout: held if the earliest outstanding chunk
// was already marked by an earlier timeout, else the loss response. The caller holds the lock.
func (a *Association) t3ThresholdLocked(now time.Time) uint32 {
	if c, ok := a.inflightQueue.get(a.cumulativeTSNAckPoint + 1); ok && c.t3Marked {
		return a.ssthresh
	}

	return a.lossThresholdLocked(now)
}

// t3ArmUndoLocked records the state before a T3-rtx timeout changes it, unless an earlier
// timeout whose earliest TSN is still outstanding already did (its record is the state before
// the episode). The caller holds the lock.
func (a *Association) t3ArmUndoLocked(now time.Time) {
	if a.t3u.armed && a.t3u.dupUntil.IsZero() {
		return
	}
	a.t3u = t3Undo{
		armed:    true,
		at:       now,
		tsn:      a.cumulativeTSNAckPoint + 1,
		cwnd:     a.CWND(),
		ssthresh: a.ssthresh,
	}
}

// t3MarkAllLocked is markAllToRetrasmit for a T3-rtx timeout: it also records which chunks the
// timeout marked (t3Only: not marked before, by RACK or a gap report) so that an undo can
// unmark exactly those. The caller holds the lock.
func (a *Association) t3MarkAllLocked() {
	q := a.inflightQueue
	for i := 0; i < q.chunks.Len(); i++ {
		c := q.chunks.At(i)
		if c.acked || c.abandoned() {
			continue
		}
		c.t3Only = !c.retransmit
		c.t3Marked = true
		a.markRetransmitLocked(c)
	}
}

// t3CheckUndoLocked is called for each chunk the cumulative TSN ack newly covers, before its
// acknowledgement is counted. If c is the chunk an armed undo waits for, it decides whether
// the timeout was spurious and, if so, undoes it; if the acknowledgement is ambiguous (c was
// resent and the acknowledgement came a minimum RTT or more after), it waits a round trip for
// the peer to report the resent copy as a duplicate TSN (t3CheckDuplicatesLocked). The caller
// holds the lock.
func (a *Association) t3CheckUndoLocked(c *chunkPayloadData, now time.Time) {
	if !a.t3u.armed || c.tsn != a.t3u.tsn || !a.t3u.dupUntil.IsZero() {
		return
	}
	minRTT := a.rack.rackMinRTTWnd.Min(now)
	if c.since.Before(a.t3u.at) {
		a.t3UndoLocked()

		return
	}
	// Either a retransmission arrived (a real timeout) or the original arrived late, after a
	// stall longer than the minimum RTT. The peer tells which: it reports every copy after
	// the first as a duplicate TSN, so if all nSent copies arrive, the original did.
	srtt := time.Duration(a.SRTT() * float64(time.Millisecond))
	a.t3u.dupUntil = now.Add(max(4*srtt, 4*minRTT, time.Second))
	a.t3u.dupsWant = c.nSent - 1
}

// t3CheckDuplicatesLocked counts, in a SACK's duplicate TSNs, the reports of the chunk whose
// acknowledgement was ambiguous: once the peer has reported every copy but one as a duplicate,
// every transmission arrived, the original with them, and the timeout was spurious (RFC 3708's
// use of SCTP's duplicate TSN reports). A lost copy leaves the count short. The caller holds
// the lock.
func (a *Association) t3CheckDuplicatesLocked(dups []uint32, now time.Time) {
	if !a.t3u.armed || a.t3u.dupUntil.IsZero() {
		return
	}
	for _, tsn := range dups {
		if tsn == a.t3u.tsn {
			a.t3u.dups++
		}
	}
	if a.t3u.dups >= a.t3u.dupsWant {
		a.t3UndoLocked()

		return
	}
	if now.After(a.t3u.dupUntil) {
		a.t3u = t3Undo{}
	}
}

// t3UndoLocked restores cwnd and ssthresh as they were before the timeout and unmarks the
// chunks it marked that have not been resent yet. The caller holds the lock.
func (a *Association) t3UndoLocked() {
	u := a.t3u
	a.t3u = t3Undo{}
	a.spuriousT3s++
	a.setCWND(max32(a.CWND(), u.cwnd))
	a.ssthresh = max32(a.ssthresh, u.ssthresh)
	q := a.inflightQueue
	for i := 0; i < q.chunks.Len(); i++ {
		ch := q.chunks.At(i)
		if ch.t3Only && ch.retransmit && ch.since.Before(u.at) {
			ch.retransmit = false
		}
		ch.t3Only, ch.t3Marked = false, false
	}
	a.log.Debugf("[%s] spurious T3-rtx undone: cwnd=%d ssthresh=%d", a.name, a.CWND(), a.ssthresh)
}

// t3DisarmUndoLocked forgets a pending undo: a fast retransmit started a loss response of its
// own, which an undo must not reverse. The caller holds the lock.
func (a *Association) t3DisarmUndoLocked() {
	a.t3u = t3Undo{}
}

// retransmitWindowLocked is how many bytes of chunks marked for retransmission may be sent
// now: the smaller of cwnd and the peer's last advertised window, each less the bytes in
// flight — counting as in flight every outstanding chunk except those marked (lost, or marked
// by a T3-rtx timeout) and not resent yet, RFC 6675's pipe. (Linux's SCTP does the same: a
// chunk moved to its retransmit queue leaves outstanding_bytes and its size is credited back
// to the peer's rwnd.)
//
// Upstream allowed min(cwnd, rwnd) of retransmissions on every pass of the write loop, with
// rwnd = a_rwnd less everything outstanding, marked chunks included. Both are wrong after a
// T3-rtx timeout that marked a window the size of the peer's buffer: rwnd is then about zero,
// so one chunk went out per SACK (each SACK acknowledging a chunk or two) and the association
// crawled through the window a couple of MTUs a round trip, while the timer fired again every
// RTO; and where rwnd was not the bound, each SACK let out another whole minimum window,
// whatever was in flight. The caller holds the lock.
func (a *Association) retransmitWindowLocked() uint32 {
	q := a.inflightQueue
	marked := 0
	for i := 0; i < q.chunks.Len(); i++ {
		if c := q.chunks.At(i); c.retransmit && !c.acked && !c.abandoned() {
			marked += len(c.userData)
		}
	}
	flight := max(q.getNumBytes()-marked, 0)
	peer := int(a.peerARWND)
	if peer == 0 { // no SACK yet, or a zero window: what RWND says
		peer = int(a.RWND()) + q.getNumBytes()
	}
	room := min(int(a.CWND()), peer) - flight
	if room <= 0 {
		return 0
	}

	return uint32(room) //nolint:gosec // G115
}

// maxDuplicateReports bounds the duplicate TSNs kept for the next SACK (which carries at most
// what fits in it anyway), so a peer that resends old TSNs cannot grow the list.
const maxDuplicateReports = 1024

// noteDuplicate records tsn for the next SACK's duplicate TSN list if it was already received
// (at or below the cumulative TSN, or held above it), and reports whether it was. Upstream
// recorded duplicates only in push, which is called only for TSNs that canPush accepts — never
// a duplicate — so a pion receiver never reported one (RFC 4960 3.3.4, 6.2: a packet that
// brings only duplicates is to be acknowledged at once, and the SACK lists them). The sender
// needs the reports to tell a spurious retransmission from a needed one (t3CheckDuplicatesLocked).
func (q *receivePayloadQueue) noteDuplicate(tsn uint32) bool {
	if !sna32LTE(tsn, q.cumulativeTSN) && !q.hasChunk(tsn) {
		return false
	}
	if len(q.dupTSN) < maxDuplicateReports {
		q.dupTSN = append(q.dupTSN, tsn)
	}

	return true
}
