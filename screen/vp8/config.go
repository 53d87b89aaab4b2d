// Package vp8 compresses screen frames to VP8 with libvpx, tuned for interactive screen sharing:
// one-pass CBR at the realtime deadline, no look-ahead, a high speed setting and libvpx's screen
// content mode. It also decodes VP8 frames to images, for screenshots and tests.
//
// The codec needs cgo and libvpx (Debian: libvpx-dev). Without cgo, NewEncoder and NewDecoder
// return screen.ErrUnsupported, so programs that only sometimes encode still build with
// CGO_ENABLED=0.
//
// The encoder is plain libvpx with these settings; docs/codecs.md says why each one is chosen
// and what it measured.
package vp8

import (
	"fmt"
	"runtime"

	"github.com/deskport/deskport/screen/internal/codec"
)

// Defaults for the zero fields of Config.
const (
	DefaultFPS     = codec.DefaultFPS
	DefaultBitrate = codec.DefaultBitrate
	// DefaultCPUUsed is libvpx's VP8E_SET_CPUUSED for the realtime deadline. Negative values
	// fix the speed level at their magnitude; positive values let libvpx pick a speed from how
	// long earlier frames took, which makes the cost depend on the machine's load. -16, the
	// fastest level, was also the best in quality per bit on screen content in
	// docs/codecs.md's measurements.
	DefaultCPUUsed = -16
	// MaxThreads caps the default thread count: VP8 splits a frame into at most eight token
	// partitions and more than four threads gains little at 1080p.
	MaxThreads = 4
)

// limits are the bounds Validate and SetBitrate check.
var limits = codec.Limits{
	Codec:        "VP8",
	MaxDimension: 16383, // VP8 stores widths and heights in 14 bits
	Err:          ErrInvalidConfig,
}

// Config sets up an Encoder. The zero value of every field except Width and Height picks a
// sensible default.
type Config struct {
	// Width and Height are the frame size in pixels. Every Frame passed to Encode must have
	// exactly this size. Odd sizes are encoded as they are: VP8 carries the exact size and its
	// 4:2:0 chroma planes round up, so nothing is padded or cropped.
	Width, Height int
	// FPS is the rate at which the caller intends to call Encode; rate control spreads the
	// bitrate over that many frames a second. Zero means DefaultFPS.
	FPS int
	// Bitrate is the target in bits per second. Zero means DefaultBitrate.
	Bitrate int
	// Threads is the number of encoder threads. Zero means half the CPUs, at least 1
	// and at most MaxThreads.
	Threads int
	// KeyframeInterval is the largest number of frames between keyframes. Zero means the
	// encoder makes a keyframe only for the first frame and when Encode is asked for one:
	// a WebRTC receiver asks with a PLI when it needs one, and periodic keyframes are large
	// frames that cost latency for nothing.
	KeyframeInterval int
	// CPUUsed is libvpx's speed control (VP8E_SET_CPUUSED), -16..16, higher magnitude is
	// faster. Zero means DefaultCPUUsed. It is here for benchmarks; the default is measured.
	CPUUsed int
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
	if c.CPUUsed == 0 {
		c.CPUUsed = DefaultCPUUsed
	}
	return c
}

// Validate reports whether c, after defaults, is a setting the encoder accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := limits.Validate(c.Width, c.Height, c.FPS, c.Bitrate, c.Threads, c.KeyframeInterval); err != nil {
		return err
	}
	if c.CPUUsed < -16 || c.CPUUsed > 16 {
		return fmt.Errorf("%w: cpu-used %d; use -16..16", ErrInvalidConfig, c.CPUUsed)
	}
	return nil
}

// defaultThreads is half the CPUs, 1..MaxThreads (codec.DefaultThreads says why).
func defaultThreads(ncpu int) int { return codec.DefaultThreads(ncpu, MaxThreads) }
