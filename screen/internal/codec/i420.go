//go:build cgo

package codec

// #include "i420.h"
import "C"

import (
	"unsafe"

	"github.com/deskport/deskport/screen"
)

// Picture is an I420 picture in C memory that the encoder owns (a vpx_image_t's or an
// x264_picture_t's planes): the Y, U and V planes and their strides in bytes, Width × Height
// luma pixels (even, or the source's size for codecs that take odd sizes).
type Picture struct {
	Y, U, V                   unsafe.Pointer
	StrideY, StrideU, StrideV int
	Width, Height             int
}

// BGRXToI420 converts f, which CheckFrame has accepted for its size, into p. Where p is larger
// than f, the last column and row are repeated into the padding.
func BGRXToI420(f *screen.Frame, p Picture) {
	C.dp_bgrx_to_i420((*C.uint8_t)(unsafe.Pointer(&f.Pix[0])), C.int(f.Stride), C.int(f.Width), C.int(f.Height),
		(*C.uint8_t)(p.Y), C.int(p.StrideY), (*C.uint8_t)(p.U), C.int(p.StrideU), (*C.uint8_t)(p.V), C.int(p.StrideV),
		C.int(p.Width), C.int(p.Height))
}
