package sctp

import "time"

// deskport: a small allowance beyond cwnd for urgent streams (Config.UrgentPriority).
//
// Stream priorities (RFC 8260, Stream.SetPriority) decide which queued chunk goes next, but
// not when: RFC 4960 6.1 rule B lets nothing new out while cwnd or more is outstanding. After
// a loss cuts the window of a bulk transfer on a long path, the bytes outstanding stay above
// the new cwnd for about half a round trip (fast recovery) or a whole recovery (T3-rtx), and a
// key press written meanwhile waits for all of it, however high its stream's priority: on a
// 150 ms path, 100–300 ms added to a press that would otherwise take 75.
//
// The allowance is what the same interactive traffic would have on an association of its own,
// without a second handshake: that association would have its own window, and its initial
// window (RFC 4960 7.2.1: min(4 MTU, max(2 MTU, 4380 bytes)); RFC 6928's 10 packets for TCP)
// is what it could send at once without any measurement of the path. So chunks of streams whose
// priority is at least Config.UrgentPriority may go out beyond cwnd as long as no more than
// urgentBeyondCwndPackets MTUs of them, so sent, are unacknowledged. Fairness to other flows
// on the path is the same as an extra association's: at most four packets more in flight,
// and only while urgent data is queued (a few bytes per key press). Retransmissions of such
// chunks follow the window as any other.

// urgentBeyondCwndPackets is the allowance in MTUs: RFC 4960's initial window for an MTU of
// 1095 bytes or more.
const urgentBeyondCwndPackets = 4

// WithUrgentPriority lets chunks of streams whose priority is at least p be sent beyond cwnd,
// up to four MTUs of them unacknowledged (deskport; see Config.UrgentPriority). 0 turns it off.
func WithUrgentPriority(p uint16) AssociationOption {
	return sharedOption(func(c *Config) error {
		c.UrgentPriority = p

		return nil
	})
}

// urgentMaySendBeyondCwndLocked reports whether c, which does not fit in cwnd, may be sent
// beyond it. The caller holds the lock.
func (a *Association) urgentMaySendBeyondCwndLocked(c *chunkPayloadData) bool {
	if a.urgentPriority == 0 || c.priority < a.urgentPriority {
		return false
	}

	return a.urgentBeyondCwnd+len(c.userData) <= urgentBeyondCwndPackets*int(a.MTU())
}

// urgentAckedLocked returns an acknowledged chunk's share of the allowance. The caller holds
// the lock.
func (a *Association) urgentAckedLocked(c *chunkPayloadData) {
	if c.beyondCwnd {
		c.beyondCwnd = false
		a.urgentBeyondCwnd -= len(c.userData)
	}
}

// Echoes of urgent chunks. The allowance above keeps a key press from waiting for the window;
// it does nothing for a press that is lost. A bulk transfer that overruns a queue on the path
// (or the receiver's own, when its CPU is the bottleneck) loses a share of every packet that
// arrives while the queue is full, a key press's too, and SCTP learns of the loss a round trip
// later at the earliest: on a 150 ms path a lost press took 280–350 ms instead of 77 (traced:
// 5–8 of 200 presses under a saturating forward). So a small urgent chunk is sent again
// urgentEchoDelays after its first transmission, unless acknowledged by then: the receiver
// takes whichever copy arrives first and reports the others as duplicates (RFC 4960 6.2), as it
// would a spurious retransmission. The copies are spread in time because queue overflows come
// in bursts. They are not retransmissions: the chunk keeps its first send time and count, so
// RTT sampling (Karn) and loss detection see one transmission. Only chunks of at most
// urgentEchoMaxBytes are echoed (input events, not a pasted clipboard), at most
// urgentEchoMaxPending copies wait at once, and a copy costs a small packet outside cwnd —
// a few per key press.
var urgentEchoDelays = [...]time.Duration{5 * time.Millisecond, 20 * time.Millisecond}

const (
	urgentEchoMaxBytes   = 512
	urgentEchoMaxPending = 64
)

// urgentEcho is one copy to send: the chunk's TSN and when.
type urgentEcho struct {
	tsn uint32
	at  time.Time
}

// urgentScheduleEchoesLocked schedules the copies of a chunk just sent for the first time, if it
// is urgent and small. The caller holds the lock.
func (a *Association) urgentScheduleEchoesLocked(c *chunkPayloadData) {
	if a.urgentPriority == 0 || c.priority < a.urgentPriority || len(c.userData) > urgentEchoMaxBytes {
		return
	}
	for _, d := range urgentEchoDelays {
		if len(a.echoes) >= urgentEchoMaxPending {
			return
		}
		a.echoes = append(a.echoes, urgentEcho{tsn: c.tsn, at: c.since.Add(d)})
	}
	a.urgentArmEchoTimerLocked(c.since)
}

// urgentArmEchoTimerLocked wakes the write loop when the earliest copy is due. The caller holds
// the lock.
func (a *Association) urgentArmEchoTimerLocked(now time.Time) {
	if len(a.echoes) == 0 {
		return
	}
	next := a.echoes[0].at
	for _, e := range a.echoes[1:] {
		if e.at.Before(next) {
			next = e.at
		}
	}
	d := max(next.Sub(now), 0)
	if a.echoTimer == nil {
		a.echoTimer = time.AfterFunc(d, a.awakeWriteLoop)
	} else {
		a.echoTimer.Reset(d)
	}
}

// gatherUrgentEchoesLocked appends a packet for each copy that is due and whose chunk is still
// outstanding, sent once and not marked for retransmission (a retransmission is the copy SCTP
// makes itself). The caller holds the lock.
func (a *Association) gatherUrgentEchoesLocked(rawPackets [][]byte) [][]byte {
	if len(a.echoes) == 0 {
		return rawPackets
	}
	now := time.Now()
	kept := a.echoes[:0]
	for _, e := range a.echoes {
		if e.at.After(now) {
			kept = append(kept, e)

			continue
		}
		c, ok := a.inflightQueue.get(e.tsn)
		if !ok || c.acked || c.abandoned() || c.retransmit || c.nSent != 1 {
			continue
		}
		raw, err := a.marshalPacket(a.createPacket([]chunk{c}))
		if err != nil {
			a.log.Warnf("[%s] failed to serialize an urgent echo: %v", a.name, err)

			continue
		}
		a.urgentEchoes++
		rawPackets = append(rawPackets, raw)
	}
	a.echoes = kept
	a.urgentArmEchoTimerLocked(now)

	return rawPackets
}
