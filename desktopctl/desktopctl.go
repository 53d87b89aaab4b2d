// Package desktopctl is the control stream of a desktop session: the viewer asks for a keyframe,
// a quality preset, a frame-rate or bitrate cap, or another monitor; the host answers with its
// monitors and reports stream statistics once a second. One KindControl stream per session on
// the interactive channel carries newline-free JSON messages, each framed by a 2-byte length.
package desktopctl

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the control protocol version, the single byte of the open request's payload.
const Version = 1

// MaxMessage is the largest message either side accepts.
const MaxMessage = 4096

// Message types.
const (
	TypeKeyframe = "keyframe" // viewer→host: send a keyframe now
	TypeQuality  = "quality"  // viewer→host: Preset, or FPS and MaxBitrate caps
	TypeMonitor  = "monitor"  // viewer→host: switch to Monitor (-1: the whole display)
	TypeStats    = "stats"    // both ways: what each side measures
	TypeHello    = "hello"    // host→viewer on open: the monitors and current settings
	TypeError    = "error"    // host→viewer: a request was refused, Error says why
)

// Quality presets: frame rate and bitrate ceiling.
var Presets = map[string]struct{ FPS, MaxBitrate int }{
	"low":      {FPS: 15, MaxBitrate: 1_000_000},
	"balanced": {FPS: 30, MaxBitrate: 3_000_000},
	"high":     {FPS: 30, MaxBitrate: 8_000_000},
}

// Monitor describes one output the host can share.
type Monitor struct {
	Index  int    `json:"index"`
	Name   string `json:"name,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Stats are the figures one side reports.
type Stats struct {
	FPS        float64 `json:"fps,omitempty"`
	BitrateBps int64   `json:"bitrateBps,omitempty"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	Keyframes  int64   `json:"keyframes,omitempty"`
	RTTMillis  float64 `json:"rttMs,omitempty"`
	Lost       int64   `json:"lost,omitempty"`
}

// Message is one control message; only the fields of its Type are set.
type Message struct {
	Type       string    `json:"type"`
	Preset     string    `json:"preset,omitempty"`
	FPS        int       `json:"fps,omitempty"`
	MaxBitrate int       `json:"maxBitrate,omitempty"`
	Monitor    *int      `json:"monitor,omitempty"`
	Monitors   []Monitor `json:"monitors,omitempty"`
	Stats      *Stats    `json:"stats,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// ErrBadMessage means a malformed, oversized or unknown message.
var ErrBadMessage = errors.New("desktopctl: bad message")

// Validate checks the fields a message of its type may carry.
func (m *Message) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, a...))
	}
	switch m.Type {
	case TypeKeyframe, TypeStats, TypeHello, TypeError:
	case TypeQuality:
		if m.Preset != "" {
			if _, ok := Presets[m.Preset]; !ok {
				return bad("unknown preset %q (low, balanced, high)", m.Preset)
			}
		}
		if m.FPS < 0 || m.FPS > 120 {
			return bad("fps %d outside 1..120", m.FPS)
		}
		if m.MaxBitrate < 0 || m.MaxBitrate > 100_000_000 {
			return bad("maxBitrate %d outside 100k..100M", m.MaxBitrate)
		}
	case TypeMonitor:
		if m.Monitor == nil || *m.Monitor < -1 || *m.Monitor > 64 {
			return bad("monitor needs an index from -1 (whole display) to 64")
		}
	default:
		return bad("unknown type %q", m.Type)
	}
	if len(m.Monitors) > 64 || len(m.Error) > 1024 || len(m.Preset) > 16 {
		return bad("oversized field")
	}
	return nil
}

// Write sends one message.
func Write(w io.Writer, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(body) > MaxMessage {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadMessage, len(body), MaxMessage)
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(body)), uint16(len(body)))
	_, err = w.Write(append(b, body...))
	return err
}

// Read receives one message: strict JSON (unknown fields refused), within MaxMessage, validated.
func Read(r io.Reader) (*Message, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadMessage, n, MaxMessage)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: truncated: %v", ErrBadMessage, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadMessage)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
