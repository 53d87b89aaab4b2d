package mux

import "errors"

var (
	// ErrNotAllowed means the peer refused the open: a policy or a capability the session was
	// not granted. The wrapping *RemoteError carries the peer's explanation.
	ErrNotAllowed = errors.New("mux: not allowed by the peer")

	// ErrTooManyStreams means the session already has as many open streams as the peer allows.
	ErrTooManyStreams = errors.New("mux: too many open streams on this session")

	// ErrConnectFailed means the peer accepted the open but could not connect to its target
	// (StatusConnRefused or StatusUnreachable).
	ErrConnectFailed = errors.New("mux: the peer could not connect to the target")

	// ErrListenFailed means the peer accepted a listen request but could not listen.
	ErrListenFailed = errors.New("mux: the peer could not listen")

	// ErrUnsupported means the peer does not handle the requested stream kind.
	ErrUnsupported = errors.New("mux: stream kind not supported by the peer")

	// ErrBadRequest means the peer rejected an open request as malformed.
	ErrBadRequest = errors.New("mux: malformed open request")

	// ErrBadVersion means an open request or reply carries a protocol version this code does not
	// speak.
	ErrBadVersion = errors.New("mux: unsupported open protocol version")

	// ErrUnknownKind means an open request carries a stream kind this code does not know.
	ErrUnknownKind = errors.New("mux: unknown stream kind")

	// ErrUnknownStatus means a reply carries a status code this code does not know.
	ErrUnknownStatus = errors.New("mux: unknown reply status")

	// ErrTooLong means a payload or message exceeds MaxPayload bytes.
	ErrTooLong = errors.New("mux: open payload too long")

	// ErrTruncated means the stream ended in the middle of an open request or reply.
	ErrTruncated = errors.New("mux: truncated open message")

	// ErrBadAddress means the address of a forwarding kind's open request is empty or holds a
	// byte outside printable ASCII.
	ErrBadAddress = errors.New("mux: bad address in an open request")
)
