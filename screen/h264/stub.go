//go:build !cgo

package h264

import "github.com/deskport/deskport/screen"

// Encoder is unavailable without cgo; NewEncoder always fails.
type Encoder struct{}

var _ screen.Encoder = (*Encoder)(nil)

// NewEncoder returns screen.ErrUnsupported: this build has no cgo, so no libx264.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, screen.ErrUnsupported
}

// Config returns the zero Config.
func (*Encoder) Config() Config { return Config{} }

// Size returns 0, 0.
func (*Encoder) Size() (width, height int) { return 0, 0 }

// Encode returns screen.ErrUnsupported.
func (*Encoder) Encode(*screen.Frame, bool) ([]byte, bool, error) {
	return nil, false, screen.ErrUnsupported
}

// SetBitrate returns screen.ErrUnsupported.
func (*Encoder) SetBitrate(int) error { return screen.ErrUnsupported }

// Close does nothing.
func (*Encoder) Close() error { return nil }
