package input

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// Version is the input stream format this code speaks, the first byte of the open payload.
const Version = 1

// Wire limits. A decoder refuses a longer event payload (the stream is closed) and drops a
// text or key event beyond its own limit (the stream goes on).
const (
	// MaxEventPayload is the largest payload of any event, known type or not.
	MaxEventPayload = 512
	// MaxText is the largest text event, in bytes of UTF-8.
	MaxText = 256
	// MaxHeldKeys is the largest held-key count a heartbeat carries.
	MaxHeldKeys = 255

	eventHeader = 3 // [type u8][payload length u16 big-endian]
)

// Hello is what the viewer says when it opens an input stream.
type Hello struct {
	// Version is the format version; this package speaks Version.
	Version int
	// Width and Height are the size of the captured screen the viewer is showing, or 0 if it
	// did not say. Coordinates are normalised, so this is only for logs and diagnostics: a
	// mismatch means the host resized and the viewer has not seen the new size yet.
	Width, Height int
}

// AppendHello appends the open payload for a mux.KindInput request: the version, then the
// screen size the viewer believes in if width and height are both positive.
func AppendHello(b []byte, width, height int) []byte {
	b = append(b, Version)
	if width > 0 && height > 0 && width <= 0xffff && height <= 0xffff {
		b = binary.BigEndian.AppendUint16(b, uint16(width))
		b = binary.BigEndian.AppendUint16(b, uint16(height))
	}
	return b
}

// ParseHello reads an open payload. It returns an error wrapping ErrBadVersion for an empty
// payload or another version; bytes after the size are reserved and ignored.
func ParseHello(p []byte) (Hello, error) {
	if len(p) == 0 {
		return Hello{}, fmt.Errorf("%w: the open request carries no version byte", ErrBadVersion)
	}
	if p[0] != Version {
		return Hello{}, fmt.Errorf("%w: the viewer speaks version %d, this host speaks %d; update the older side", ErrBadVersion, p[0], Version)
	}
	h := Hello{Version: Version}
	if len(p) >= 5 {
		h.Width = int(binary.BigEndian.Uint16(p[1:]))
		h.Height = int(binary.BigEndian.Uint16(p[3:]))
	}
	return h, nil
}

// AppendEvent appends e in wire form. It refuses, with ErrInvalid, what a host would drop: an
// unknown type, button or key, text that is empty, too long, not UTF-8 or has control
// characters. Coordinates and deltas are clamped to their wire ranges.
func AppendEvent(b []byte, e Event) ([]byte, error) {
	switch e.Type {
	case TypePointerAbs:
		return appendU16s(b, e.Type, uint16(clamp(e.X, 0, NormMax)), uint16(clamp(e.Y, 0, NormMax))), nil
	case TypePointerRel, TypeWheel:
		return appendU16s(b, e.Type, uint16(int16(clamp(e.DX, -32768, 32767))), uint16(int16(clamp(e.DY, -32768, 32767)))), nil
	case TypeButton:
		if !e.Button.Valid() {
			return b, fmt.Errorf("%w: button %d", ErrInvalid, e.Button)
		}
		return append(b, byte(e.Type), 0, 2, byte(e.Button), boolByte(e.Down)), nil
	case TypeKey:
		if !e.Code.Valid() {
			return b, fmt.Errorf("%w: key code %d", ErrInvalid, e.Code)
		}
		return AppendKeyName(b, e.Code.String(), e.Down)
	case TypeText:
		if !validText(e.Text) {
			return b, fmt.Errorf("%w: text must be 1..%d bytes of UTF-8 without control characters", ErrInvalid, MaxText)
		}
		b = append(b, byte(e.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Text)))
		return append(b, e.Text...), nil
	case TypeReleaseAll:
		return append(b, byte(e.Type), 0, 0), nil
	case TypeHeartbeat:
		return append(b, byte(e.Type), 0, 2, byte(clamp(e.HeldKeys, 0, MaxHeldKeys)), e.HeldButtons&0x1f), nil
	}
	return b, fmt.Errorf("%w: type %v", ErrInvalid, e.Type)
}

// AppendKeyName appends a key event by its KeyboardEvent.code name, known to this package or
// not, for viewers that pass the browser's code through (the host drops names it does not
// know).
func AppendKeyName(b []byte, code string, down bool) ([]byte, error) {
	if len(code) == 0 || len(code) > MaxCodeLen || !asciiName(code) {
		return b, fmt.Errorf("%w: key code %q must be 1..%d ASCII letters and digits", ErrInvalid, code, MaxCodeLen)
	}
	b = append(b, byte(TypeKey), 0, byte(1+len(code)), boolByte(down))
	return append(b, code...), nil
}

// Encode returns the wire form of events, for tests and simple viewers.
func Encode(events ...Event) ([]byte, error) {
	var b []byte
	for _, e := range events {
		var err error
		if b, err = AppendEvent(b, e); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendU16s(b []byte, t Type, x, y uint16) []byte {
	b = append(b, byte(t), 0, 4)
	b = binary.BigEndian.AppendUint16(b, x)
	return binary.BigEndian.AppendUint16(b, y)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func asciiName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validText(s string) bool {
	if len(s) == 0 || len(s) > MaxText || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Decoder reads events from an input stream with fixed memory: a small read buffer and one
// event payload of at most MaxEventPayload bytes. It is not safe for concurrent use.
type Decoder struct {
	r       *bufio.Reader
	buf     [MaxEventPayload]byte
	dropped uint64
}

// NewDecoder reads events from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 1024)}
}

// Dropped counts events skipped so far: unknown types, unknown keys and buttons, malformed
// payloads of known types.
func (d *Decoder) Dropped() uint64 { return d.dropped }

// Next returns the next event the host understands, skipping (and counting) the rest. It
// returns io.EOF at a clean end of stream, an error wrapping ErrTruncated if the stream ends
// inside an event, ErrTooLong for a payload beyond MaxEventPayload, or the reader's error.
func (d *Decoder) Next() (Event, error) {
	for {
		var hdr [eventHeader]byte
		if _, err := io.ReadFull(d.r, hdr[:1]); err != nil {
			return Event{}, err
		}
		if _, err := io.ReadFull(d.r, hdr[1:]); err != nil {
			return Event{}, truncated(err)
		}
		n := int(binary.BigEndian.Uint16(hdr[1:]))
		if n > MaxEventPayload {
			return Event{}, fmt.Errorf("%w: %v event of %d bytes, the limit is %d", ErrTooLong, Type(hdr[0]), n, MaxEventPayload)
		}
		p := d.buf[:n]
		if _, err := io.ReadFull(d.r, p); err != nil {
			return Event{}, truncated(err)
		}
		if e, ok := decodeEvent(Type(hdr[0]), p); ok {
			return e, nil
		}
		d.dropped++
	}
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return fmt.Errorf("input: read: %w", err)
}

// decodeEvent parses one payload. Bytes beyond a known type's fixed fields are reserved for
// later versions and ignored; a payload shorter than the fixed fields is dropped.
func decodeEvent(t Type, p []byte) (Event, bool) {
	e := Event{Type: t}
	switch t {
	case TypePointerAbs:
		if len(p) < 4 {
			return e, false
		}
		e.X, e.Y = int(binary.BigEndian.Uint16(p)), int(binary.BigEndian.Uint16(p[2:]))
	case TypePointerRel, TypeWheel:
		if len(p) < 4 {
			return e, false
		}
		e.DX, e.DY = int(int16(binary.BigEndian.Uint16(p))), int(int16(binary.BigEndian.Uint16(p[2:])))
	case TypeButton:
		if len(p) < 2 || !Button(p[0]).Valid() {
			return e, false
		}
		e.Button, e.Down = Button(p[0]), p[1]&1 != 0
	case TypeKey:
		if len(p) < 2 || len(p) > 1+MaxCodeLen {
			return e, false
		}
		c, ok := codeByName[string(p[1:])] // no allocation: the compiler optimises map[string(b)]
		if !ok {
			return e, false
		}
		e.Code, e.Down = c, p[0]&1 != 0
	case TypeText:
		if len(p) == 0 || len(p) > MaxText {
			return e, false
		}
		e.Text = string(p)
		if !validText(e.Text) {
			return Event{}, false
		}
	case TypeReleaseAll:
	case TypeHeartbeat:
		if len(p) < 2 {
			return e, false
		}
		e.HeldKeys, e.HeldButtons = int(p[0]), p[1]&0x1f
	default:
		return e, false
	}
	return e, true
}
