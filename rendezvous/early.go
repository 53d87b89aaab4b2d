package rendezvous

import (
	"time"

	"github.com/deskport/deskport/signaling"
)

// Limits on the candidates a host holds for sessions whose offer has not arrived yet. A viewer
// may trickle candidates before its offer reaches the host (its gathering races its own offer,
// and several rendezvous instances need not keep one order); dropping them loses the paths they
// describe. Holding is bounded so that a rendezvous, or a stranger through it, cannot make the
// host keep much: a pion or browser peer gathers a dozen candidates at most, and an offer
// follows its candidates within a round trip, not seconds.
const (
	earlyPerSession = 32
	earlyTotal      = 256
	earlyTTL        = 15 * time.Second
)

// earlyCandidates holds candidates that arrived before their session's offer, per session, in
// arrival order. It is not safe for concurrent use; clientConn guards it with its mutex.
type earlyCandidates struct {
	sessions map[string]*earlySession
	total    int
}

type earlySession struct {
	first time.Time
	msgs  []*signaling.Message
}

// add holds m for its session; false means it was dropped over a limit.
func (e *earlyCandidates) add(m *signaling.Message, now time.Time) bool {
	if e.sessions == nil {
		e.sessions = make(map[string]*earlySession)
	}
	e.expire(now)
	s := e.sessions[m.Session]
	if e.total >= earlyTotal || (s != nil && len(s.msgs) >= earlyPerSession) {
		return false
	}
	if s == nil {
		s = &earlySession{first: now}
		e.sessions[m.Session] = s
	}
	s.msgs = append(s.msgs, m)
	e.total++
	return true
}

// take removes and returns what is held for session id (nil when nothing is, or it expired).
func (e *earlyCandidates) take(id string, now time.Time) []*signaling.Message {
	e.expire(now)
	s := e.sessions[id]
	if s == nil {
		return nil
	}
	e.drop(id)
	return s.msgs
}

// drop forgets session id.
func (e *earlyCandidates) drop(id string) {
	if s := e.sessions[id]; s != nil {
		e.total -= len(s.msgs)
		delete(e.sessions, id)
	}
}

// expire forgets sessions whose first held candidate is older than earlyTTL: their offer is not
// coming (the viewer gave up, or the rendezvous dropped it).
func (e *earlyCandidates) expire(now time.Time) {
	for id, s := range e.sessions {
		if now.Sub(s.first) > earlyTTL {
			e.drop(id)
		}
	}
}
