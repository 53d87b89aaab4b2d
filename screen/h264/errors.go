package h264

import "errors"

// ErrInvalidConfig means a Config or a SetBitrate value is out of range; the wrapped message
// names the field and the range.
var ErrInvalidConfig = errors.New("h264: invalid config")

// ErrFrameSize means a Frame's size does not match the Encoder's Config, or its Stride or Pix
// are too small for its size. A size change needs a new Encoder.
var ErrFrameSize = errors.New("h264: frame size does not match the encoder")

// ErrClosed means the Encoder was used after Close.
var ErrClosed = errors.New("h264: closed")

// ErrCodec means libx264 refused the parameters or failed to encode.
var ErrCodec = errors.New("h264: x264 error")
