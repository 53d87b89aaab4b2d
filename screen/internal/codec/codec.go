// Package codec holds what the VP8 (screen/vp8) and H.264 (screen/h264) encoders share, so
// that the two packages differ only where the codecs do: the limits every setting is checked
// against, the default thread count, the check that keeps C code inside a frame's pixels, and
// the conversion of captured BGRX frames to the I420 pictures both codecs take (i420.h, in C,
// called through BGRXToI420).
//
// The conversion lives here, in this package's own C code, rather than in a header that both
// encoders include: the go command hashes only the C headers of a package's own directory, so
// an edit to a header included from elsewhere would leave stale objects in the build cache.
package codec

import (
	"fmt"

	"github.com/deskport/deskport/screen"
)

// Defaults and limits both encoders share.
const (
	DefaultFPS     = 30
	DefaultBitrate = 3_000_000

	MaxFPS     = 240
	MinBitrate = 50_000
	MaxBitrate = 200_000_000
	MaxThreads = 64 // what Validate accepts when set explicitly
)

// Limits are what one codec accepts; Err is the package's ErrInvalidConfig, which every error
// Limits returns wraps.
type Limits struct {
	Codec        string // names the codec in messages: "VP8", "H.264"
	MaxDimension int    // the largest width or height
	Err          error
}

// Validate checks the settings both encoders share, after defaults. Each error names the
// field and the range it must be in.
func (l Limits) Validate(width, height, fps, bitrate, threads, keyframeInterval int) error {
	switch {
	case width <= 0 || height <= 0:
		return fmt.Errorf("%w: size %dx%d; width and height must be positive", l.Err, width, height)
	case width > l.MaxDimension || height > l.MaxDimension:
		return fmt.Errorf("%w: size %dx%d; %s allows at most %d pixels a side", l.Err, width, height, l.Codec, l.MaxDimension)
	case fps < 0 || fps > MaxFPS:
		return fmt.Errorf("%w: fps %d; use 1..%d", l.Err, fps, MaxFPS)
	}
	if err := l.ValidateBitrate(bitrate); err != nil {
		return err
	}
	switch {
	case threads < 0 || threads > MaxThreads:
		return fmt.Errorf("%w: threads %d; use 1..%d", l.Err, threads, MaxThreads)
	case keyframeInterval < 0:
		return fmt.Errorf("%w: keyframe interval %d; use 0 (on request only) or a number of frames", l.Err, keyframeInterval)
	}
	return nil
}

// ValidateBitrate checks a target bitrate in bits per second.
func (l Limits) ValidateBitrate(bps int) error {
	if bps < MinBitrate || bps > MaxBitrate {
		return fmt.Errorf("%w: bitrate %d bit/s; use %d..%d", l.Err, bps, MinBitrate, MaxBitrate)
	}
	return nil
}

// DefaultThreads is half the CPUs, 1..limit: the host also captures the screen and runs the
// network stack, and an encoder thread that competes with them for a core costs more CPU than
// it saves (libvpx's row threads spin while they wait; docs/codecs.md has the figures).
func DefaultThreads(ncpu, limit int) int { return min(max(ncpu/2, 1), limit) }

// CheckFrame makes sure f is w×h and that Pix holds every row, so the C code never reads past
// the slice. Its errors wrap errSize, the package's ErrFrameSize.
func CheckFrame(f *screen.Frame, w, h int, errSize error) error {
	if f == nil {
		return fmt.Errorf("%w: nil frame", errSize)
	}
	if f.Width != w || f.Height != h {
		return fmt.Errorf("%w: frame is %dx%d, encoder is %dx%d", errSize, f.Width, f.Height, w, h)
	}
	if f.Stride < 4*w {
		return fmt.Errorf("%w: stride %d is less than 4×width %d", errSize, f.Stride, w)
	}
	if need := f.Stride*(h-1) + 4*w; len(f.Pix) < need {
		return fmt.Errorf("%w: pix has %d bytes, a %dx%d frame with stride %d needs %d", errSize, len(f.Pix), w, h, f.Stride, need)
	}
	return nil
}

// Kbps rounds a bitrate in bits per second to the kilobits per second both libraries take.
func Kbps(bps int) int { return (bps + 500) / 1000 }
