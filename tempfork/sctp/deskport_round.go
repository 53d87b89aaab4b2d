package sctp

import "time"

// deskport: the queue test of congestion avoidance from the last round's smallest RTT.
//
// With Config.CwndFloorFromDeliveryRate, congestion avoidance grows the window by a quarter of
// itself per window acknowledged while no queue builds, and by one step otherwise
// (caStepLocked). It judged "no queue" by the smoothed RTT against the minimum; but the
// smoothed RTT takes one sample a round trip (RFC 4960 6.3.1 C4) and moves an eighth of the way
// each time, so a value set high early on (the first round trips of an association, while the
// peer's CPU is still busy with the handshake: 260-270 ms on a 150 ms path) takes a dozen round
// trips — two seconds at 150 ms — to come down. Meanwhile the window grew one step a round trip
// although nothing queued: traced at 150 ms, 8 MiB after a loss grew by 48 KiB in 500 ms while
// the RTT samples were back at the minimum.
//
// The smallest RTT of the last round (a round ends when the cumulative TSN ack reaches the
// highest TSN sent when it began; a sample from the send time of the newest chunk each SACK
// newly acknowledges, as HyStart++ takes them) answers the same question without the lag: a
// standing queue raises every sample of a round, including the smallest, while noise raises
// only some.

// roundRTTMinSamples is how many samples a round needs before its minimum counts.
const roundRTTMinSamples = 8

// roundRTT tracks the smallest RTT sample of each round.
type roundRTT struct {
	started bool
	end     uint32        // the round ends when the cumulative TSN ack reaches this
	cur     time.Duration // smallest sample of the running round (0: none)
	n       int           // samples in the running round
	last    time.Duration // smallest sample of the last complete round (0: none)
}

// roundRTTOnSackLocked counts a SACK that newly acknowledged chunks: newestSent is the send
// time of the newest of them (zero: no sample), cumAck the SACK's cumulative TSN ack. The
// caller holds the lock.
func (a *Association) roundRTTOnSackLocked(now, newestSent time.Time, cumAck uint32) {
	if !a.rateFloor {
		return
	}
	r := &a.rr
	if !r.started || sna32GTE(cumAck, r.end) {
		if r.started && r.n >= roundRTTMinSamples {
			r.last = r.cur
		}
		a.paceRoundEndLocked(now) // deskport_pace.go: a round ends, the next begins
		r.started, r.end, r.cur, r.n = true, a.myNextTSN-1, 0, 0
	}
	if newestSent.IsZero() {
		return
	}
	if rtt := now.Sub(newestSent); rtt > 0 {
		if r.n == 0 || rtt < r.cur {
			r.cur = rtt
		}
		r.n++
	}
}

// recentRTTLocked is the smallest RTT of the last complete round, or the smoothed RTT before
// there is one. The caller holds the lock.
func (a *Association) recentRTTLocked() time.Duration {
	if a.rr.last > 0 {
		return a.rr.last
	}

	return time.Duration(a.SRTT() * float64(time.Millisecond))
}
