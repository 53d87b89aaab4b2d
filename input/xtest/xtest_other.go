//go:build !(linux && cgo)

package xtest

import (
	"fmt"

	"github.com/deskport/deskport/input"
)

// Injector is not available in this build: it needs Linux and cgo.
type Injector struct{}

var _ input.Injector = (*Injector)(nil)

var errBuild = fmt.Errorf("xtest: this build cannot inject X11 input (it needs linux and cgo; build with CGO_ENABLED=1): %w", input.ErrUnsupported)

// Open returns input.ErrUnsupported in this build.
func Open(cfg Config) (*Injector, error) { return nil, errBuild }

// Inject returns input.ErrUnsupported.
func (*Injector) Inject(input.Event) error { return errBuild }

// Close does nothing.
func (*Injector) Close() error { return nil }
