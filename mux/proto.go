package mux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Version is the stream-open protocol version this code speaks.
const Version = 1

// MaxPayload is the largest request payload and reply message, in bytes.
const MaxPayload = 512

// headerLen is the size of the fixed header of requests and replies.
const headerLen = 4

// Request opens a stream. Which fields are meaningful depends on Kind:
//
//   - KindTCP: Addr is the target "host:port".
//   - KindListen: ListenID is the opener's name for the listener, unique per session, and Addr
//     the "bind:port" to listen on.
//   - KindReverse: ListenID names the listener that accepted the connection and Addr is the
//     originator's "ip:port".
//   - reserved kinds: Payload is carried as is.
type Request struct {
	Kind     Kind
	Addr     string
	ListenID uint32
	Payload  []byte
}

// Status is the outcome of an open.
type Status uint8

// Reply statuses. Numbers are wire values.
const (
	StatusOK             Status = 0 // stream accepted; for KindListen, Message is the bound address
	StatusNotAllowed     Status = 1 // refused by policy
	StatusTooManyStreams Status = 2 // per-session stream cap reached
	StatusConnRefused    Status = 3 // target refused the connection
	StatusUnreachable    Status = 4 // target unreachable, timed out, or its name did not resolve
	StatusUnsupported    Status = 5 // the receiver does not handle this kind
	StatusBadRequest     Status = 6 // malformed or inconsistent request
	StatusListenFailed   Status = 7 // allowed, but listening failed (address in use, ...)

	maxStatus = StatusListenFailed
)

// Reply answers a Request. Message is human-readable text for the user (on StatusOK for
// KindListen, the bound address).
type Reply struct {
	Status  Status
	Message string
}

// Err turns a non-OK reply into a *RemoteError that matches the status's sentinel with
// errors.Is and carries the peer's message; it returns nil for StatusOK.
func (r Reply) Err() error {
	var base error
	switch r.Status {
	case StatusOK:
		return nil
	case StatusNotAllowed:
		base = ErrNotAllowed
	case StatusTooManyStreams:
		base = ErrTooManyStreams
	case StatusConnRefused, StatusUnreachable:
		base = ErrConnectFailed
	case StatusUnsupported:
		base = ErrUnsupported
	case StatusBadRequest:
		base = ErrBadRequest
	case StatusListenFailed:
		base = ErrListenFailed
	default:
		base = ErrUnknownStatus
	}
	return &RemoteError{Status: r.Status, Message: r.Message, base: base}
}

// RemoteError is the peer's refusal of an open: its status and its explanation. It matches the
// status's sentinel (ErrNotAllowed, ErrUnsupported, ...) with errors.Is; packages on top (the
// forwarding package) read Status to re-label it with their own sentinels.
type RemoteError struct {
	Status  Status
	Message string
	base    error
}

func (e *RemoteError) Error() string {
	return strings.TrimPrefix(e.base.Error(), "mux: ") + ": " + e.Message
}

func (e *RemoteError) Unwrap() error { return e.base }

// encodePayload builds the kind-specific payload.
func (r Request) encodePayload() ([]byte, error) {
	switch r.Kind {
	case KindTCP:
		if err := checkAddrText(r.Addr); err != nil {
			return nil, err
		}
		return []byte(r.Addr), nil
	case KindListen, KindReverse:
		if err := checkAddrText(r.Addr); err != nil {
			return nil, err
		}
		return append(binary.BigEndian.AppendUint32(nil, r.ListenID), r.Addr...), nil
	default:
		if !r.Kind.valid() {
			return nil, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(r.Kind))
		}
		return r.Payload, nil
	}
}

// checkAddrText accepts printable ASCII without spaces: host names, IP literals, brackets,
// colons. Anything else is not an address and is refused before it reaches a log or a dialer.
func checkAddrText(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty address", ErrBadAddress)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %q contains a byte outside printable ASCII", ErrBadAddress, s)
		}
	}
	return nil
}

// WriteRequest writes r as one open request:
// [version=1][kind][payload length, u16 big-endian][payload].
func WriteRequest(w io.Writer, r Request) error {
	p, err := r.encodePayload()
	if err != nil {
		return err
	}
	if len(p) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLong, len(p), MaxPayload)
	}
	return writeFrame(w, uint8(r.Kind), p)
}

// ReadRequest reads one open request. It returns io.EOF if the stream ends before the first
// byte, and an error wrapping ErrBadVersion, ErrUnknownKind, ErrTooLong, ErrTruncated or
// ErrBadAddress for anything malformed. It reads exactly the request's bytes.
func ReadRequest(r io.Reader) (Request, error) {
	b, p, err := readFrame(r, "request")
	if err != nil {
		return Request{}, err
	}
	req := Request{Kind: Kind(b)}
	switch req.Kind {
	case KindTCP:
		req.Addr = string(p)
		if err := checkAddrText(req.Addr); err != nil {
			return Request{}, err
		}
	case KindListen, KindReverse:
		if len(p) < 4 {
			return Request{}, fmt.Errorf("%w: %s payload of %d bytes is shorter than its 4-byte listen ID", ErrTruncated, req.Kind, len(p))
		}
		req.ListenID = binary.BigEndian.Uint32(p)
		req.Addr = string(p[4:])
		if err := checkAddrText(req.Addr); err != nil {
			return Request{}, err
		}
	default:
		if !req.Kind.valid() {
			return Request{}, fmt.Errorf("%w: %d", ErrUnknownKind, b)
		}
		req.Payload = p
	}
	return req, nil
}

// WriteReply writes r as one reply: [version=1][status][message length, u16 big-endian][message].
// A message longer than MaxPayload is cut at a UTF-8 boundary rather than refused, since it is
// only an explanation.
func WriteReply(w io.Writer, r Reply) error {
	if r.Status > maxStatus {
		return fmt.Errorf("%w: %d", ErrUnknownStatus, uint8(r.Status))
	}
	msg := r.Message
	if len(msg) > MaxPayload {
		cut := MaxPayload
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return writeFrame(w, uint8(r.Status), []byte(msg))
}

// ReadReply reads one reply. Errors are as for ReadRequest, with ErrUnknownStatus for an
// unknown status and ErrBadRequest for a message that is not UTF-8.
func ReadReply(r io.Reader) (Reply, error) {
	b, p, err := readFrame(r, "reply")
	if err != nil {
		return Reply{}, err
	}
	if Status(b) > maxStatus {
		return Reply{}, fmt.Errorf("%w: %d", ErrUnknownStatus, b)
	}
	if !utf8.Valid(p) {
		return Reply{}, fmt.Errorf("%w: reply message is not UTF-8", ErrBadRequest)
	}
	return Reply{Status: Status(b), Message: string(p)}, nil
}

func writeFrame(w io.Writer, code uint8, p []byte) error {
	buf := make([]byte, headerLen, headerLen+len(p))
	buf[0] = Version
	buf[1] = code
	binary.BigEndian.PutUint16(buf[2:], uint16(len(p)))
	buf = append(buf, p...)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader, what string) (code uint8, payload []byte, err error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err // io.EOF: the stream ended cleanly before a message
	}
	if hdr[0] != Version {
		return 0, nil, fmt.Errorf("%w: %s version %d, this side speaks %d", ErrBadVersion, what, hdr[0], Version)
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, truncated(what, err)
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n > MaxPayload {
		return 0, nil, fmt.Errorf("%w: %s of %d bytes, the limit is %d", ErrTooLong, what, n, MaxPayload)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, truncated(what, err)
	}
	return hdr[1], payload, nil
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	return fmt.Errorf("mux: read %s: %w", what, err)
}
