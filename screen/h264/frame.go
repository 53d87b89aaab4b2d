package h264

import (
	"fmt"

	"github.com/deskport/deskport/screen"
)

// checkFrame makes sure f is w×h and that Pix holds every row, so the C code never reads past
// the slice.
func checkFrame(f *screen.Frame, w, h int) error {
	if f == nil {
		return fmt.Errorf("%w: nil frame", ErrFrameSize)
	}
	if f.Width != w || f.Height != h {
		return fmt.Errorf("%w: frame is %dx%d, encoder is %dx%d", ErrFrameSize, f.Width, f.Height, w, h)
	}
	if f.Stride < 4*w {
		return fmt.Errorf("%w: stride %d is less than 4×width %d", ErrFrameSize, f.Stride, w)
	}
	if need := f.Stride*(h-1) + 4*w; len(f.Pix) < need {
		return fmt.Errorf("%w: pix has %d bytes, a %dx%d frame with stride %d needs %d", ErrFrameSize, len(f.Pix), w, h, f.Stride, need)
	}
	return nil
}
