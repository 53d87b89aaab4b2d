//go:build !cgo

package vp8

import (
	"image"

	"github.com/deskport/deskport/screen"
)

// Encoder is unavailable without cgo; NewEncoder always fails.
type Encoder struct{}

var _ screen.Encoder = (*Encoder)(nil)

// NewEncoder returns screen.ErrUnsupported: this build has no cgo, so no libvpx.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, screen.ErrUnsupported
}

// Config returns the zero Config.
func (*Encoder) Config() Config { return Config{} }

// Encode returns screen.ErrUnsupported.
func (*Encoder) Encode(*screen.Frame, bool) ([]byte, bool, error) {
	return nil, false, screen.ErrUnsupported
}

// SetBitrate returns screen.ErrUnsupported.
func (*Encoder) SetBitrate(int) error { return screen.ErrUnsupported }

// Close does nothing.
func (*Encoder) Close() error { return nil }

// Decoder is unavailable without cgo; NewDecoder always fails.
type Decoder struct{}

// NewDecoder returns screen.ErrUnsupported: this build has no cgo, so no libvpx.
func NewDecoder() (*Decoder, error) { return nil, screen.ErrUnsupported }

// Decode returns screen.ErrUnsupported.
func (*Decoder) Decode([]byte) (*image.RGBA, error) { return nil, screen.ErrUnsupported }

// Close does nothing.
func (*Decoder) Close() error { return nil }
