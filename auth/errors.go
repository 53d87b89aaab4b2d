package auth

import "errors"

// The sentinel errors of the handshake. Host and Viewer wrap them with a message that tells the
// person reading it what to do; compare with errors.Is.
var (
	// ErrUnauthorized means the host refused the viewer's key: it is not in the host's
	// authorized_viewers file, or the viewer's signature did not verify for this connection.
	ErrUnauthorized = errors.New("auth: viewer key not authorized")

	// ErrUnsafePolicy means the authorized_viewers file, or a directory above it, could be
	// changed by someone other than its owner (OpenSSH's StrictModes); the host refuses to start
	// on it. The message says the chmod or chown that fixes it.
	ErrUnsafePolicy = errors.New("auth: authorized_viewers is not private")

	// ErrBadCode means the one-time code did not match. The attempt used the code up: the host
	// accepts at most one guess per code, so a new code is needed.
	ErrBadCode = errors.New("auth: wrong one-time code")

	// ErrCodeExpired means the host's current one-time code expired before it was used.
	ErrCodeExpired = errors.New("auth: one-time code expired")

	// ErrNoCode means the host does not accept one-time codes, or has no current code (none was
	// generated, or it was already used).
	ErrNoCode = errors.New("auth: host has no one-time code")

	// ErrHostMismatch means the host could not prove that it holds the key of the host ID the
	// viewer asked for, over this very connection: either the host key does not hash to the host
	// ID, or its signature does not cover the DTLS certificates the viewer sees. Someone may be
	// relaying the connection (a man in the middle, for example a compromised rendezvous).
	ErrHostMismatch = errors.New("auth: host does not match the host ID")

	// ErrVersion means the peer speaks a handshake version this build does not support.
	ErrVersion = errors.New("auth: unsupported handshake version")

	// ErrProtocol means a malformed, oversized, unexpected or out-of-order message, or a
	// cryptographic value (group element, key confirmation) that is invalid.
	ErrProtocol = errors.New("auth: protocol error")

	// ErrAborted is returned by Host when the viewer gave up the handshake and said why (for
	// example because the host's proof did not match what the viewer expected).
	ErrAborted = errors.New("auth: viewer aborted the handshake")
)

// userError carries a sentinel for errors.Is and a full message that says what to do.
type userError struct {
	sentinel error
	msg      string
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.sentinel }

func newError(sentinel error, msg string) error {
	return &userError{sentinel: sentinel, msg: msg}
}
