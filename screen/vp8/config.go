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
)

// Defaults for the zero fields of Config.
const (
	DefaultFPS     = 30
	DefaultBitrate = 3_000_000
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

// Limits that Validate enforces.
const (
	maxDimension = 16383 // VP8 stores widths and heights in 14 bits
	maxFPS       = 240
	minBitrate   = 50_000
	maxBitrate   = 200_000_000
)

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
	switch {
	case c.Width <= 0 || c.Height <= 0:
		return fmt.Errorf("%w: size %dx%d; width and height must be positive", ErrInvalidConfig, c.Width, c.Height)
	case c.Width > maxDimension || c.Height > maxDimension:
		return fmt.Errorf("%w: size %dx%d; VP8 allows at most %d pixels a side", ErrInvalidConfig, c.Width, c.Height, maxDimension)
	case c.FPS < 0 || c.FPS > maxFPS:
		return fmt.Errorf("%w: fps %d; use 1..%d", ErrInvalidConfig, c.FPS, maxFPS)
	}
	if err := validateBitrate(c.Bitrate); err != nil {
		return err
	}
	switch {
	case c.Threads < 0 || c.Threads > 64:
		return fmt.Errorf("%w: threads %d; use 1..64", ErrInvalidConfig, c.Threads)
	case c.KeyframeInterval < 0:
		return fmt.Errorf("%w: keyframe interval %d; use 0 (on request only) or a number of frames", ErrInvalidConfig, c.KeyframeInterval)
	case c.CPUUsed < -16 || c.CPUUsed > 16:
		return fmt.Errorf("%w: cpu-used %d; use -16..16", ErrInvalidConfig, c.CPUUsed)
	}
	return nil
}

func validateBitrate(bps int) error {
	if bps < minBitrate || bps > maxBitrate {
		return fmt.Errorf("%w: bitrate %d bit/s; use %d..%d", ErrInvalidConfig, bps, minBitrate, maxBitrate)
	}
	return nil
}

// defaultThreads is half the CPUs, 1..MaxThreads: the host also captures the screen and runs
// the network stack, and an encoder thread that competes with them for a core costs more CPU
// than it saves (libvpx's row threads spin while they wait; docs/codecs.md has the figures).
func defaultThreads(ncpu int) int { return min(max(ncpu/2, 1), MaxThreads) }
