package rendezvous

import (
	"errors"

	"github.com/deskport/deskport/signaling"
)

var (
	// ErrHostOffline means the host has registered with this rendezvous since it started but
	// is not connected now: its agent stopped or lost its network.
	ErrHostOffline = errors.New("host offline")
	// ErrUnknownHost means no host with that ID has registered since the rendezvous started:
	// usually a mistyped ID or a host that uses another rendezvous.
	ErrUnknownHost = errors.New("unknown host")
	// ErrRendezvousUnreachable means the WebSocket to the rendezvous could not be opened.
	ErrRendezvousUnreachable = errors.New("cannot reach the rendezvous")
	// ErrRateLimited means the rendezvous refused because of a connection or message limit;
	// retrying later helps.
	ErrRateLimited = errors.New("rate limited by the rendezvous")
	// ErrRefused is every other refusal by the rendezvous (too many sessions, a bad request,
	// an unsupported version, a code this client does not know).
	ErrRefused = errors.New("refused by the rendezvous")
	// ErrBadSignature means the rendezvous did not accept the host's registration proof.
	// Retrying with the same key and URL cannot help, so HostClient.Run returns it.
	ErrBadSignature = errors.New("registration signature refused")
	// ErrReplaced means another registration of the same host key (a second agent, or a
	// replayed registration) made the rendezvous close this connection in its favour.
	// HostClient.Run logs it and registers again after a backoff that grows while it repeats.
	ErrReplaced = errors.New("replaced by another agent with the same host key")
	// ErrWrongRendezvous means the rendezvous's challenge names servers other than the one the
	// host dialled: a wrong URL, or a server relaying another rendezvous's challenge. The host
	// does not sign, and HostClient.Run returns it.
	ErrWrongRendezvous = errors.New("the rendezvous does not answer to the name this host dialled")
	// ErrSessionClosed is returned by Session.Send once the session has ended.
	ErrSessionClosed = errors.New("rendezvous session closed")
	// ErrServerClosed is returned by Serve and New's methods once the Server is closed.
	ErrServerClosed = errors.New("rendezvous server closed")
)

// RefusedError is a refusal by the rendezvous: its machine code and its human message, which
// says what to do. It matches, with errors.Is, the sentinel error of its code.
type RefusedError struct {
	Code    string
	Message string
}

func (e *RefusedError) Error() string { return e.Message }

// Unwrap maps the code to its sentinel error.
func (e *RefusedError) Unwrap() error {
	switch e.Code {
	case signaling.CodeHostOffline:
		return ErrHostOffline
	case signaling.CodeUnknownHost:
		return ErrUnknownHost
	case signaling.CodeRateLimited:
		return ErrRateLimited
	case signaling.CodeBadSignature:
		return ErrBadSignature
	case signaling.CodeReplaced:
		return ErrReplaced
	default:
		return ErrRefused
	}
}
