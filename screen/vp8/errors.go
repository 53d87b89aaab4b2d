package vp8

import "errors"

// ErrInvalidConfig means a Config or a SetBitrate value is out of range; the wrapped message
// names the field and the range.
var ErrInvalidConfig = errors.New("vp8: invalid config")

// ErrFrameSize means a Frame's size does not match the Encoder's Config, or its Stride or Pix
// are too small for its size. A size change needs a new Encoder.
var ErrFrameSize = errors.New("vp8: frame size does not match the encoder")

// ErrClosed means the Encoder or Decoder was used after Close.
var ErrClosed = errors.New("vp8: closed")

// ErrCodec means libvpx reported an error; the wrapped message carries libvpx's own text.
var ErrCodec = errors.New("vp8: libvpx error")
