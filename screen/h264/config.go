// Package h264 compresses screen frames to H.264 with x264, for viewers that cannot decode
// VP8 (or decode H.264 in hardware). The settings aim at interactive latency: preset
// ultrafast, tune zerolatency (no B-frames, no look-ahead, sliced threads), constrained
// baseline profile so every browser decodes it, VBV-capped bitrate, SPS and PPS in front of
// every keyframe, Annex B output with start codes.
//
// The codec needs cgo and libx264 (Debian: libx264-dev). Without cgo, NewEncoder returns
// screen.ErrUnsupported. docs/codecs.md says why each setting is chosen and what it measured.
package h264

import (
	"runtime"

	"github.com/deskport/deskport/screen/internal/codec"
)

// Defaults for the zero fields of Config.
const (
	DefaultFPS     = codec.DefaultFPS
	DefaultBitrate = codec.DefaultBitrate
	// MaxThreads caps the default thread count; with sliced threads each thread encodes one
	// slice of every frame, and more slices cost bits.
	MaxThreads = 4
)

// limits are the bounds Validate and SetBitrate check.
var limits = codec.Limits{
	Codec:        "H.264",
	MaxDimension: 8192, // the largest frame H.264 level 6.2 allows is 8192×4320
	Err:          ErrInvalidConfig,
}

// Config sets up an Encoder. The zero value of every field except Width and Height picks a
// sensible default.
type Config struct {
	// Width and Height are the frame size in pixels. Every Frame passed to Encode must have
	// exactly this size. x264 encodes 4:2:0 only at even sizes, and H.264's cropping works
	// in steps of two pixels for 4:2:0, so an odd width or height is padded by one: the
	// stream is (Width+1)&^1 × (Height+1)&^1, with the last column or row repeated.
	// Encoder.Size reports the encoded size.
	Width, Height int
	// FPS is the rate at which the caller intends to call Encode. Zero means DefaultFPS.
	FPS int
	// Bitrate is the target in bits per second. Zero means DefaultBitrate.
	Bitrate int
	// Threads is the number of encoder threads (and slices a frame). Zero means half the
	// CPUs, at least 1 and at most MaxThreads.
	Threads int
	// KeyframeInterval is the largest number of frames between IDR frames. Zero means only
	// the first frame and frames Encode is asked to make keyframes are IDR frames: a WebRTC
	// receiver asks with a PLI when it needs one.
	KeyframeInterval int
}

// withDefaults returns c with its zero fields filled in.
func (c Config) withDefaults() Config {
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.Bitrate == 0 {
		c.Bitrate = DefaultBitrate
	}
	if c.Threads == 0 {
		c.Threads = defaultThreads(runtime.NumCPU())
	}
	return c
}

// Validate reports whether c, after defaults, is a setting the encoder accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	return limits.Validate(c.Width, c.Height, c.FPS, c.Bitrate, c.Threads, c.KeyframeInterval)
}

// evenSize is the size x264 encodes for a w×h picture.
func evenSize(w, h int) (int, int) { return (w + 1) &^ 1, (h + 1) &^ 1 }

// defaultThreads is half the CPUs, 1..MaxThreads (codec.DefaultThreads says why).
func defaultThreads(ncpu int) int { return codec.DefaultThreads(ncpu, MaxThreads) }
