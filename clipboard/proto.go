package clipboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the clipboard protocol version, carried as the single byte of the open request's
// payload.
const Version = 1

// Message types. Numbers never change meaning.
const (
	// MsgSet (viewer→host) replaces the host's clipboard with the UTF-8 text in the body.
	MsgSet byte = 1
	// MsgUpdate (host→viewer) carries the host's clipboard text after it changed.
	MsgUpdate byte = 2
	// MsgError (host→viewer) answers a MsgSet that was refused; the body says why.
	MsgError byte = 3
	// MsgAck (host→viewer, empty body) answers a MsgSet that was applied.
	MsgAck byte = 4
)

const (
	// DefaultMaxBytes caps a clipboard text when Server.MaxBytes is zero.
	DefaultMaxBytes = 1 << 20
	// MaxMessage is the largest body any reader accepts at all. A set larger than the host's
	// MaxBytes but within this is skipped and answered with MsgError, keeping the stream in
	// step; beyond it the stream is closed.
	MaxMessage = 64 << 20
	headerLen  = 5
)

// ErrBadMessage means a message is malformed or beyond MaxMessage.
var ErrBadMessage = errors.New("clipboard: malformed message")

// ErrRefused wraps the host's reason for refusing a Set.
var ErrRefused = errors.New("clipboard: the host refused the text")

// ErrTooLarge means a text exceeds the size limit.
var ErrTooLarge = errors.New("clipboard: text too large")

// ErrNoXclip means the xclip program is missing on the host.
var ErrNoXclip = errors.New("clipboard: xclip is not installed on the host (apt-get install xclip)")

// writeMessage writes [type u8][len u32 big-endian][body] in one Write.
func writeMessage(w io.Writer, t byte, body []byte) error {
	if len(body) > MaxMessage {
		return fmt.Errorf("%w: %d bytes, the protocol limit is %d", ErrTooLarge, len(body), MaxMessage)
	}
	b := make([]byte, headerLen, headerLen+len(body))
	b[0] = t
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

// readHeader reads a message header and checks the type and the protocol limit.
func readHeader(r io.Reader) (t byte, n int, err error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return 0, 0, err
	}
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return 0, 0, io.ErrUnexpectedEOF
	}
	t = h[0]
	if t < MsgSet || t > MsgAck {
		return 0, 0, fmt.Errorf("%w: unknown message type %d", ErrBadMessage, t)
	}
	size := binary.BigEndian.Uint32(h[1:])
	if size > MaxMessage {
		return 0, 0, fmt.Errorf("%w: message of %d bytes exceeds the protocol limit of %d", ErrBadMessage, size, MaxMessage)
	}
	if t == MsgAck && size != 0 {
		return 0, 0, fmt.Errorf("%w: ack with a %d-byte body", ErrBadMessage, size)
	}
	return t, int(size), nil
}

// readMessage reads one message whose body may be at most limit bytes. A larger body that is
// within MaxMessage is skipped and reported as tooLarge with its size, leaving the stream at
// the next message.
func readMessage(r io.Reader, limit int) (t byte, body []byte, tooLarge int, err error) {
	t, n, err := readHeader(r)
	if err != nil {
		return 0, nil, 0, err
	}
	if n > limit {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return 0, nil, 0, io.ErrUnexpectedEOF
		}
		return t, nil, n, nil
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	return t, body, 0, nil
}
