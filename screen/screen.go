// Package screen turns a display into a video track: a Capturer grabs frames, an Encoder
// compresses them, and Stream paces the two and writes samples to a WebRTC track, with keyframes
// on request and the bitrate the congestion controller allows.
//
// The capture and codec implementations need cgo and live in subpackages (screen/x11,
// screen/vp8, screen/h264) behind build tags; this package itself is pure Go, so the core of
// deskport builds without cgo.
package screen

import "errors"

// Frame is one captured picture.
type Frame struct {
	// Width and Height are the picture's size in pixels.
	Width, Height int
	// Stride is the number of bytes from one row to the next (at least 4*Width).
	Stride int
	// Pix holds the pixels as B, G, R, X bytes (X11 ZPixmap, 32 bits per pixel, little endian),
	// top row first. It belongs to the Capturer and is valid until its next Capture.
	Pix []byte
	// Changed is false when the screen is known to be identical to the previous Capture (from
	// damage events or a comparison); Pix then still holds that previous picture.
	Changed bool
}

// Capturer grabs the screen. Implementations keep one display connection and one shared
// buffer for their whole life; they are not safe for concurrent use.
type Capturer interface {
	// Capture grabs the current screen, cursor included.
	Capture() (*Frame, error)
	// Close releases the display connection and buffers.
	Close() error
}

// Encoder compresses frames of one fixed size. A size change needs a new Encoder.
type Encoder interface {
	// Encode compresses f; keyframe forces an intra frame the receiver can start from. data is
	// one whole encoded frame (a VP8 frame, or an H.264 access unit in Annex B); it is nil when
	// rate control dropped the frame. data is valid until the next Encode.
	Encode(f *Frame, keyframe bool) (data []byte, isKey bool, err error)
	// SetBitrate changes the target bitrate, in bits per second, from the next frame on.
	SetBitrate(bps int) error
	// Close releases the codec.
	Close() error
}

// Reencoder is an Encoder that can encode the picture of its last Encode again without a frame.
// A Stream uses it for a refresh or a keyframe of a screen that has not changed since (Frame.
// Changed false): the picture is already converted, so only the encoding costs CPU.
type Reencoder interface {
	EncodeAgain(keyframe bool) (data []byte, isKey bool, err error)
}

// Monitor is one output of a display.
type Monitor struct {
	Index         int // 0-based, in the order the display lists them
	Name          string
	X, Y          int
	Width, Height int
	Primary       bool
}

// Codec names, as used on the command line and in the control protocol.
const (
	CodecVP8  = "vp8"
	CodecH264 = "h264"
)

// ErrUnsupported means this build or this display cannot do what was asked (no cgo, no X11
// extension, unknown codec).
var ErrUnsupported = errors.New("screen: not supported")
