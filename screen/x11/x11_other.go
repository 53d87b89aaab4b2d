//go:build !(linux && cgo)

package x11

import (
	"fmt"

	"github.com/deskport/deskport/screen"
)

// Capturer is not available in this build: it needs Linux and cgo.
type Capturer struct{}

var _ screen.Capturer = (*Capturer)(nil)

var errBuild = fmt.Errorf("x11: this build has no X11 capture (it needs linux and cgo; build with CGO_ENABLED=1): %w", screen.ErrUnsupported)

// Open returns screen.ErrUnsupported in this build.
func Open(cfg Config) (*Capturer, error) { return nil, errBuild }

// Monitors returns screen.ErrUnsupported in this build.
func Monitors(display string) ([]screen.Monitor, error) { return nil, errBuild }

// Capture returns screen.ErrUnsupported.
func (*Capturer) Capture() (*screen.Frame, error) { return nil, errBuild }

// Rect is empty in this build.
func (*Capturer) Rect() (x, y, width, height int) { return 0, 0, 0, 0 }

// Invalidate does nothing in this build.
func (*Capturer) Invalidate() {}

// SHM is false in this build.
func (*Capturer) SHM() bool { return false }

// Close does nothing.
func (*Capturer) Close() error { return nil }
