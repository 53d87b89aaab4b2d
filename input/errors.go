package input

import "errors"

var (
	// ErrBadVersion means the stream's open payload names a format version this host does not
	// speak; the viewer should fall back or ask the user to update.
	ErrBadVersion = errors.New("input: unsupported input protocol version")
	// ErrTooLong means an event's declared payload exceeds MaxEventPayload; the stream is not
	// an input stream from a conforming viewer and is closed.
	ErrTooLong = errors.New("input: event too long")
	// ErrTruncated means the stream ended in the middle of an event.
	ErrTruncated = errors.New("input: stream ended inside an event")
	// ErrInvalid means an event handed to an encoder cannot be put on the wire (unknown type,
	// unknown key, text too long or not UTF-8).
	ErrInvalid = errors.New("input: invalid event")
	// ErrUnsupported means this build or this display cannot inject input (no cgo, no X11,
	// no XTest extension).
	ErrUnsupported = errors.New("input: injection not supported")
	// ErrClosed is returned by an Injector after Close.
	ErrClosed = errors.New("input: injector is closed")
)
