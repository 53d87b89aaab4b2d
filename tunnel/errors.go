package tunnel

import "errors"

var (
	// ErrTargetRefused means the host's forward policy does not allow the target. The wrapping
	// error names the normalised target and what the host allows.
	ErrTargetRefused = errors.New("tunnel: target not allowed by the host")

	// ErrListenRefused means the host's listen policy does not allow a reverse (-R) listener at
	// the requested address.
	ErrListenRefused = errors.New("tunnel: listen address not allowed by the host")

	// ErrTooManyStreams means the session already has as many open streams as the host allows.
	ErrTooManyStreams = errors.New("tunnel: too many open streams on this session")

	// ErrDialFailed means the target was allowed but the host could not connect to it.
	ErrDialFailed = errors.New("tunnel: the host could not connect to the target")

	// ErrListenFailed means the listen address was allowed but the host could not listen on it.
	ErrListenFailed = errors.New("tunnel: the host could not listen")

	// ErrUnsupported means the peer does not handle the requested stream kind.
	ErrUnsupported = errors.New("tunnel: stream kind not supported by the peer")

	// ErrBadRequest means the peer rejected an open request as malformed.
	ErrBadRequest = errors.New("tunnel: malformed open request")

	// ErrBadVersion means an open request or reply carries a protocol version this code does not
	// speak.
	ErrBadVersion = errors.New("tunnel: unsupported open protocol version")

	// ErrUnknownKind means an open request carries a stream kind this code does not know.
	ErrUnknownKind = errors.New("tunnel: unknown stream kind")

	// ErrUnknownStatus means a reply carries a status code this code does not know.
	ErrUnknownStatus = errors.New("tunnel: unknown reply status")

	// ErrTooLong means a payload or message exceeds MaxPayload bytes.
	ErrTooLong = errors.New("tunnel: open payload too long")

	// ErrTruncated means the stream ended in the middle of an open request or reply.
	ErrTruncated = errors.New("tunnel: truncated open message")

	// ErrBadRule means a --allow or --allow-listen rule does not parse.
	ErrBadRule = errors.New("tunnel: bad allow rule")

	// ErrBadSpec means a -L, -R or -D forward specification does not parse.
	ErrBadSpec = errors.New("tunnel: bad forward spec")

	// ErrBadTarget means a target address is not a valid host:port.
	ErrBadTarget = errors.New("tunnel: bad target address")
)
