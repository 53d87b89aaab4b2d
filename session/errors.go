package session

import "errors"

var (
	// ErrHandshakeTimeout means the peer connection or the authentication did not complete in
	// Config.HandshakeTimeout. Usually UDP between the two machines is blocked and no TURN relay
	// is configured.
	ErrHandshakeTimeout = errors.New("session: connection set-up timed out")
	// ErrConnectionFailed means ICE found no working path between the two machines.
	ErrConnectionFailed = errors.New("session: no network path to the peer (ICE failed)")
	// ErrPeerLeft means the other end ended the session during set-up.
	ErrPeerLeft = errors.New("session: the peer ended the session")
	// ErrNoRelay means Config.RelayOnly was asked for but no TURN server was given.
	ErrNoRelay = errors.New("session: --relay-only needs a TURN server and there is none: start the rendezvous with --turn (or hand out one with its --ice-server), or pass --ice-server turn:…")
	// ErrSignaling means a signaling message was malformed or out of order.
	ErrSignaling = errors.New("session: bad signaling message")
	// ErrPeerOffline is what a Config.Resignal wraps when the rendezvous says the peer is not
	// connected to it: an ICE restart cannot reach it there.
	ErrPeerOffline = errors.New("session: the peer is not online at the rendezvous")
	// ErrHostGone ends a viewer's running session whose host stopped answering and stayed
	// offline at the rendezvous for hostGoneWait: it stopped, crashed or lost its network.
	ErrHostGone = errors.New("the host went away: it stopped answering and the rendezvous has not seen it since (it stopped, crashed or lost its network)")
	// ErrHostRestarted ends a viewer's running session whose ICE restart reached a host that
	// knows no such session: the host process restarted (a crash, systemd's Restart=, an
	// upgrade) or ended the session on its side, so no restart can bring it back.
	ErrHostRestarted = errors.New("the host restarted (or ended the session on its side) and no longer has this session; connect again")
)

// PeerOffline marks err, a Config.Resignal's failure, as the rendezvous saying the peer is not
// online there: it then matches ErrPeerOffline, and reads as err.
func PeerOffline(err error) error { return offlineError{err} }

type offlineError struct{ error }

func (e offlineError) Unwrap() error      { return e.error }
func (offlineError) Is(target error) bool { return target == ErrPeerOffline }

// ErrTooManyPending means the host already has as many unauthenticated sessions as its Gate
// allows, in total or from the viewer's address; the offer was refused before any peer
// connection was built. A legitimate viewer retries in a few seconds.
var ErrTooManyPending = errors.New("session: too many sessions are authenticating; retry in a few seconds")

// busyReason is the bye a host sends when its Gate refuses an offer. Only the rendezvous may
// put a code in a bye, so the viewer recognises the refusal by this reason.
const busyReason = "the host has too many sessions authenticating; retry in a few seconds"

// hostBusyError is what Dial returns when the host's Gate refused the offer: it matches both
// ErrPeerLeft and ErrTooManyPending, on which a viewer may simply try again (nothing was
// authenticated, so a one-time code is not used up).
type hostBusyError struct{}

func (hostBusyError) Error() string { return ErrPeerLeft.Error() + ": " + busyReason }

func (hostBusyError) Is(target error) bool {
	return target == ErrPeerLeft || target == ErrTooManyPending
}

// unknownSessionReason is the bye a host sends when an ICE restart offer names a session it does
// not have (restart.go): the viewer then ends its session with ErrHostRestarted at once instead
// of retrying for a minute. A host from before it just ends the restart's signaling.
const unknownSessionReason = "the host has no session with this restart ID (it restarted, or the session ended there)"
