package files

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deskport/deskport/mux"
)

// Version is the file protocol version, the first byte of every request header.
const Version = 1

// Protocol limits. docs/files.md explains each.
const (
	headerFixed = 17
	// MaxPath is the longest path a request carries, in bytes: the open request payload is
	// at most mux.MaxPayload bytes and the fixed part of the header takes 17.
	MaxPath = mux.MaxPayload - headerFixed
	// ChunkSize is the data frame size senders use.
	ChunkSize = 256 << 10
	// MaxChunk is the largest data frame a receiver accepts.
	MaxChunk = 1 << 20
	// MaxText is the longest status or abort text, in bytes.
	MaxText = 4096
	// MaxName is the longest file name in a listing entry, in bytes.
	MaxName = 1024
	// frameHeader is [type u8][length u32].
	frameHeader = 5
	statusFixed = 9  // [code u8][arg u64]
	entryFixed  = 19 // [type u8][perm u16][size u64][mtime i64]
)

// Op is what a request asks for.
type Op uint8

// Operations. Put travels on a mux.KindFilePut stream, Get and List on mux.KindFileGet.
const (
	OpPut  Op = 1
	OpGet  Op = 2
	OpList Op = 3
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpList:
		return "list"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Kind returns the tunnel stream kind that carries the operation.
func (o Op) Kind() mux.Kind {
	if o == OpPut {
		return mux.KindFilePut
	}
	return mux.KindFileGet
}

// FlagNoClobber asks the host to refuse a put whose destination already exists.
const FlagNoClobber = 1 << 0

const knownFlags = FlagNoClobber

// Header is the request a viewer sends in the tunnel open request's payload.
type Header struct {
	Op    Op
	Flags uint8
	Mode  fs.FileMode // put: permission bits of the new file (0 means 0644)
	Size  int64       // put: exact number of bytes that follow
	Path  string      // relative to the host's file root, "/"-separated
}

// Encode returns the header's wire form.
func (h Header) Encode() ([]byte, error) {
	if h.Op < OpPut || h.Op > OpList {
		return nil, fmt.Errorf("%w: unknown op %d", ErrBadHeader, h.Op)
	}
	if len(h.Path) == 0 || len(h.Path) > MaxPath {
		return nil, fmt.Errorf("%w: path of %d bytes (1..%d allowed)", ErrBadHeader, len(h.Path), MaxPath)
	}
	if h.Size < 0 || h.Mode&^fs.ModePerm != 0 || h.Flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: bad size, mode or flags", ErrBadHeader)
	}
	b := make([]byte, headerFixed, headerFixed+len(h.Path))
	b[0] = Version
	b[1] = byte(h.Op)
	b[2] = h.Flags
	binary.BigEndian.PutUint32(b[3:], uint32(h.Mode))
	binary.BigEndian.PutUint64(b[7:], uint64(h.Size))
	binary.BigEndian.PutUint16(b[15:], uint16(len(h.Path)))
	return append(b, h.Path...), nil
}

// DecodeHeader parses a request header. It checks the encoding and the limits; whether the
// path is acceptable is the server's decision.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < headerFixed {
		return Header{}, fmt.Errorf("%w: request header of %d bytes is shorter than %d", ErrBadHeader, len(b), headerFixed)
	}
	if b[0] != Version {
		return Header{}, fmt.Errorf("%w: protocol version %d, this side speaks %d; update the older side", ErrBadHeader, b[0], Version)
	}
	h := Header{Op: Op(b[1]), Flags: b[2]}
	if h.Op < OpPut || h.Op > OpList {
		return Header{}, fmt.Errorf("%w: unknown op %d", ErrBadHeader, b[1])
	}
	if h.Flags&^knownFlags != 0 {
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrBadHeader, h.Flags)
	}
	mode := binary.BigEndian.Uint32(b[3:])
	if mode&^uint32(fs.ModePerm) != 0 {
		return Header{}, fmt.Errorf("%w: mode %#o has bits beyond the permission bits", ErrBadHeader, mode)
	}
	h.Mode = fs.FileMode(mode)
	size := binary.BigEndian.Uint64(b[7:])
	if size > 1<<62 {
		return Header{}, fmt.Errorf("%w: size %d out of range", ErrBadHeader, size)
	}
	h.Size = int64(size)
	n := int(binary.BigEndian.Uint16(b[15:]))
	if n == 0 || n > MaxPath || len(b) != headerFixed+n {
		return Header{}, fmt.Errorf("%w: path length %d does not match a header of %d bytes", ErrBadHeader, n, len(b))
	}
	h.Path = string(b[headerFixed:])
	if !utf8.ValidString(h.Path) || strings.IndexByte(h.Path, 0) >= 0 {
		return Header{}, fmt.Errorf("%w: path is not UTF-8 text", ErrBadHeader)
	}
	if h.Op != OpPut && (h.Size != 0 || h.Mode != 0 || h.Flags != 0) {
		return Header{}, fmt.Errorf("%w: %v request carries put-only fields", ErrBadHeader, h.Op)
	}
	return h, nil
}

// Frame types on the stream after the open.
const (
	frameData   byte = 1 // file bytes
	frameDone   byte = 2 // SHA-256 of all file bytes: the data is complete
	frameAbort  byte = 3 // the sender gives up; UTF-8 reason
	frameStatus byte = 4 // [code u8][arg u64][UTF-8 text]
	frameEntry  byte = 5 // one listing entry
)

// bodyLimits returns the smallest and largest body of a frame type; ok is false for an
// unknown type.
func bodyLimits(t byte) (lo, hi int, ok bool) {
	switch t {
	case frameData:
		return 1, MaxChunk, true
	case frameDone:
		return 32, 32, true
	case frameAbort:
		return 0, MaxText, true
	case frameStatus:
		return statusFixed, statusFixed + MaxText, true
	case frameEntry:
		return entryFixed + 1, entryFixed + MaxName, true
	}
	return 0, 0, false
}

// readFrame reads one frame into buf (grown if needed) and returns its type and body. It
// returns io.EOF only if the stream ends cleanly before a frame.
func readFrame(r io.Reader, buf []byte) (t byte, body []byte, err error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, truncated(err)
	}
	t = hdr[0]
	n := binary.BigEndian.Uint32(hdr[1:])
	lo, hi, ok := bodyLimits(t)
	if !ok {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", ErrBadHeader, t)
	}
	if n < uint32(lo) || n > uint32(hi) {
		return 0, nil, fmt.Errorf("%w: frame type %d of %d bytes (%d..%d allowed)", ErrBadHeader, t, n, lo, hi)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	body = buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, truncated(err)
	}
	return t, body, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeFrame writes one frame in a single Write.
func writeFrame(w io.Writer, t byte, body []byte) error {
	b := make([]byte, frameHeader, frameHeader+len(body))
	b[0] = t
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

// writeData sends buf[frameHeader:] as a data frame; the first frameHeader bytes of buf are
// scratch space for the header so the frame goes out without a copy.
func writeData(w io.Writer, buf []byte) error {
	buf[0] = frameData
	binary.BigEndian.PutUint32(buf[1:], uint32(len(buf)-frameHeader))
	_, err := w.Write(buf)
	return err
}

// status is a decoded status frame.
type status struct {
	Code Code
	Arg  uint64 // put ready: resume offset (always 0 in version 1); get ready: size; final: bytes
	Text string
}

func (s status) err() error {
	if s.Code == CodeOK {
		return nil
	}
	return &StatusError{Code: s.Code, Message: s.Text}
}

func encodeStatus(s status) []byte {
	text := cutText(s.Text)
	b := make([]byte, statusFixed, statusFixed+len(text))
	b[0] = byte(s.Code)
	binary.BigEndian.PutUint64(b[1:], s.Arg)
	return append(b, text...)
}

func decodeStatus(b []byte) (status, error) {
	if len(b) < statusFixed || len(b) > statusFixed+MaxText {
		return status{}, fmt.Errorf("%w: status of %d bytes", ErrBadHeader, len(b))
	}
	if Code(b[0]) > maxCode {
		return status{}, fmt.Errorf("%w: unknown status code %d", ErrBadHeader, b[0])
	}
	text := b[statusFixed:]
	if !utf8.Valid(text) {
		return status{}, fmt.Errorf("%w: status text is not UTF-8", ErrBadHeader)
	}
	return status{Code: Code(b[0]), Arg: binary.BigEndian.Uint64(b[1:]), Text: string(text)}, nil
}

// cutText shortens s to MaxText bytes at a UTF-8 boundary and replaces invalid bytes.
func cutText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Entry is one item of a directory listing.
type Entry struct {
	Name    string
	Size    int64
	Mode    fs.FileMode // type bits (fs.ModeDir, fs.ModeSymlink, fs.ModeIrregular) and permissions
	ModTime time.Time
}

// Entry types on the wire.
const (
	entryFile    = 0
	entryDir     = 1
	entrySymlink = 2
	entryOther   = 3
)

func encodeEntry(e Entry) []byte {
	t := byte(entryFile)
	switch {
	case e.Mode.IsDir():
		t = entryDir
	case e.Mode&fs.ModeSymlink != 0:
		t = entrySymlink
	case !e.Mode.IsRegular():
		t = entryOther
	}
	b := make([]byte, entryFixed, entryFixed+len(e.Name))
	b[0] = t
	binary.BigEndian.PutUint16(b[1:], uint16(e.Mode.Perm()))
	binary.BigEndian.PutUint64(b[3:], uint64(max(e.Size, 0)))
	binary.BigEndian.PutUint64(b[11:], uint64(e.ModTime.UnixNano()))
	return append(b, e.Name...)
}

func decodeEntry(b []byte) (Entry, error) {
	if len(b) <= entryFixed || len(b) > entryFixed+MaxName {
		return Entry{}, fmt.Errorf("%w: listing entry of %d bytes", ErrBadHeader, len(b))
	}
	perm := binary.BigEndian.Uint16(b[1:])
	if perm&^uint16(fs.ModePerm) != 0 {
		return Entry{}, fmt.Errorf("%w: entry permission bits %#o", ErrBadHeader, perm)
	}
	mode := fs.FileMode(perm)
	switch b[0] {
	case entryFile:
	case entryDir:
		mode |= fs.ModeDir
	case entrySymlink:
		mode |= fs.ModeSymlink
	case entryOther:
		mode |= fs.ModeIrregular
	default:
		return Entry{}, fmt.Errorf("%w: entry type %d", ErrBadHeader, b[0])
	}
	size := binary.BigEndian.Uint64(b[3:])
	if size > 1<<62 {
		return Entry{}, fmt.Errorf("%w: entry size %d out of range", ErrBadHeader, size)
	}
	name := string(b[entryFixed:])
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return Entry{}, fmt.Errorf("%w: entry name %q is not a file name", ErrBadHeader, name)
	}
	return Entry{Name: name, Size: int64(size), Mode: mode, ModTime: time.Unix(0, int64(binary.BigEndian.Uint64(b[11:])))}, nil
}
