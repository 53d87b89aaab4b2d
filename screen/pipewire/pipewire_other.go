//go:build !(linux && cgo)

package pipewire

import (
	"context"
	"fmt"
	"os"

	"github.com/deskport/deskport/screen"
)

// Capturer is not available in this build: it needs Linux and cgo.
type Capturer struct{}

var _ screen.Capturer = (*Capturer)(nil)

var errBuild = fmt.Errorf("pipewire: this build has no PipeWire capture (it needs linux, cgo and libpipewire-0.3; build with CGO_ENABLED=1): %w", screen.ErrUnsupported)

// Dial returns screen.ErrUnsupported in this build.
func Dial(runtimeDir string) (*os.File, error) { return nil, errBuild }

// Open returns screen.ErrUnsupported in this build.
func Open(ctx context.Context, cfg Config) (*Capturer, error) {
	if cfg.Conn != nil {
		cfg.Conn.Close()
	}
	return nil, errBuild
}

// Capture returns screen.ErrUnsupported.
func (*Capturer) Capture() (*screen.Frame, error) { return nil, errBuild }

// Wait returns screen.ErrUnsupported.
func (*Capturer) Wait(ctx context.Context) error { return errBuild }

// Rect is empty in this build.
func (*Capturer) Rect() (x, y, width, height int) { return 0, 0, 0, 0 }

// Frames announces nothing in this build.
func (*Capturer) Frames() <-chan struct{} { return nil }

// Invalidate does nothing in this build.
func (*Capturer) Invalidate() {}

// Stats is empty in this build.
type Stats struct{ Buffers, Damaged, Copied, Lent uint64 }

// Stats is empty in this build.
func (*Capturer) Stats() Stats { return Stats{} }

// Close does nothing.
func (*Capturer) Close() error { return nil }

// Timing is zero: there is no capture without cgo.
func (*Capturer) Timing() Timing { return Timing{} }
