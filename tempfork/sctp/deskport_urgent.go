package sctp

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
