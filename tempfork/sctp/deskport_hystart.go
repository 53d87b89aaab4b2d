package sctp

import (
	"math"
	"time"
)

// deskport: HyStart++ (RFC 9406), a delay-based exit from the initial slow start
// (Config.HyStart).
//
// Slow start doubles the window every round trip until a loss. On a path whose bottleneck has
// a short queue (a receiver's socket buffer, a shallow router queue) the round that overshoots
// the path's bandwidth-delay product loses up to half a window in one go, and SCTP then halves
// the window — or, when the losses take the retransmissions along, waits for T3-rtx and starts
// again from one MTU. HyStart++ watches the smallest RTT of each round instead: once it has
// risen by an eighth of the previous round's (clamped to 4–16 ms), a queue is building, and the
// sender grows the window by a quarter of the acknowledged bytes for a few rounds (Conservative
// Slow Start, CSS) before it settles in congestion avoidance; if the RTT falls back below what
// it was when CSS began, the rise was noise and slow start resumes.
//
// Following RFC 9406, it applies to the initial slow start only (before the first loss: a loss
// ends slow start as RFC 4960 has it), the RTT samples are taken on every SACK that newly
// acknowledges a chunk (the send time of the newest chunk it acknowledges), and a round ends
// when the cumulative TSN ack reaches the highest TSN sent when the round began.

// RFC 9406 section 4.3's recommended constants.
const (
	hyStartMinRTTThresh    = 4 * time.Millisecond
	hyStartMaxRTTThresh    = 16 * time.Millisecond
	hyStartMinRTTDivisor   = 8
	hyStartNRTTSample      = 8
	hyStartCSSGrowthDiv    = 4
	hyStartCSSRounds       = 5
	hyStartNoRTT           = time.Duration(math.MaxInt64)
	hyStartLogCSSEntered   = "HyStart++: RTT rose, conservative slow start"
	hyStartLogCSSAbandoned = "HyStart++: RTT fell back, slow start resumed"
	hyStartLogExit         = "HyStart++: slow start ended without a loss"
)

// hyStart is one association's HyStart++ state (RFC 9406 section 4.2).
type hyStart struct {
	on          bool
	started     bool   // a round is under way
	windowEnd   uint32 // the round ends when the cumulative TSN ack reaches this TSN
	lastMin     time.Duration
	currentMin  time.Duration
	samples     int
	css         bool
	cssBaseline time.Duration
	cssRounds   int
	exited      bool // slow start ended by HyStart++ (ssthresh set to cwnd)
}

// newHyStart is the state before the first round.
func newHyStart(on bool) hyStart {
	return hyStart{on: on, lastMin: hyStartNoRTT, currentMin: hyStartNoRTT, cssBaseline: hyStartNoRTT}
}

// WithHyStart turns on HyStart++ (RFC 9406) for the initial slow start (deskport; see
// Config.HyStart).
func WithHyStart(on bool) AssociationOption {
	return sharedOption(func(c *Config) error {
		c.HyStart = on

		return nil
	})
}

// hyStartActiveLocked reports whether HyStart++ governs the window: switched on, in the
// initial slow start (no loss yet, cwnd at or below ssthresh) and not in fast recovery. The
// caller holds the lock.
func (a *Association) hyStartActiveLocked() bool {
	return a.hs.on && !a.hs.exited && a.ssthreshFromPeerWindow && !a.inFastRecovery &&
		a.CWND() <= a.ssthresh
}

// hyStartOnSackLocked runs HyStart++'s per-acknowledgement steps for a SACK that newly
// acknowledged chunks: newestSent is the send time of the newest of them (zero: none), cumAck
// the SACK's cumulative TSN ack. It is called before the window grows for the same SACK. The
// caller holds the lock.
func (a *Association) hyStartOnSackLocked(now, newestSent time.Time, cumAck uint32) {
	if !a.hyStartActiveLocked() {
		return
	}
	hs := &a.hs
	if !hs.started || sna32GTE(cumAck, hs.windowEnd) {
		// A new round: its end is the highest TSN sent so far.
		if hs.started && hs.css {
			hs.cssRounds++
			if hs.cssRounds >= hyStartCSSRounds {
				// RFC 9406: after CSS_ROUNDS rounds of CSS, enter congestion avoidance
				// with ssthresh = cwnd.
				a.ssthresh = a.CWND()
				a.ssthreshFromPeerWindow = false
				hs.exited, hs.css = true, false
				a.log.Debugf("[%s] %s: cwnd=%d", a.name, hyStartLogExit, a.CWND())

				return
			}
		}
		hs.started = true
		hs.windowEnd = a.myNextTSN - 1
		hs.lastMin, hs.currentMin = hs.currentMin, hyStartNoRTT
		hs.samples = 0
	}
	if newestSent.IsZero() {
		return
	}
	rtt := now.Sub(newestSent)
	if rtt <= 0 {
		return
	}
	hs.currentMin = min(hs.currentMin, rtt)
	hs.samples++
	if hs.samples < hyStartNRTTSample || hs.currentMin == hyStartNoRTT {
		return
	}
	if !hs.css {
		if hs.lastMin == hyStartNoRTT {
			return
		}
		thresh := min(max(hs.lastMin/hyStartMinRTTDivisor, hyStartMinRTTThresh), hyStartMaxRTTThresh)
		if hs.currentMin >= hs.lastMin+thresh {
			hs.css, hs.cssBaseline, hs.cssRounds = true, hs.currentMin, 0
			a.log.Debugf("[%s] %s: min RTT %v -> %v, cwnd=%d", a.name, hyStartLogCSSEntered,
				hs.lastMin, hs.currentMin, a.CWND())
		}

		return
	}
	if hs.currentMin < hs.cssBaseline {
		hs.css, hs.cssBaseline = false, hyStartNoRTT
		a.log.Debugf("[%s] %s: min RTT %v, cwnd=%d", a.name, hyStartLogCSSAbandoned, hs.currentMin, a.CWND())
	}
}

// hyStartGrowthLocked is the slow-start increase for acked newly acknowledged bytes: all of
// them (at most cwnd, as pion grows), or a quarter of that in Conservative Slow Start. The
// caller holds the lock.
func (a *Association) hyStartGrowthLocked(acked uint32) uint32 {
	inc := min32(acked, a.CWND())
	if a.hs.css && a.hyStartActiveLocked() {
		inc /= hyStartCSSGrowthDiv
	}

	return inc
}
