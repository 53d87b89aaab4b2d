//go:build cgo

package codec

import (
	"testing"
	"unsafe"

	"github.com/deskport/deskport/screen"
)

// TestBGRXToI420 converts a 3×1 frame (white, black, pure red) into a 4×2 picture: the BT.601
// limited-range values, 2×2 chroma averages, and the last column and row repeated into the
// padding.
func TestBGRXToI420(t *testing.T) {
	f := &screen.Frame{Width: 3, Height: 1, Stride: 12, Pix: []byte{
		255, 255, 255, 0, // white
		0, 0, 0, 0, // black
		0, 0, 255, 0, // red (B, G, R, X)
	}}
	const w, h = 4, 2
	y, u, v := make([]byte, w*h), make([]byte, w/2*h/2), make([]byte, w/2*h/2)
	BGRXToI420(f, Picture{
		Y: unsafe.Pointer(&y[0]), StrideY: w,
		U: unsafe.Pointer(&u[0]), StrideU: w / 2,
		V: unsafe.Pointer(&v[0]), StrideV: w / 2,
		Width: w, Height: h,
	})
	// Y: white 235, black 16, red 82; the red column is repeated into column 3, the row
	// into row 1.
	wantY := []byte{235, 16, 82, 82, 235, 16, 82, 82}
	// Chroma of the white/black block: grey, 128/128. Of the red/red block: U 90, V 240.
	wantU, wantV := []byte{128, 90}, []byte{128, 240}
	if string(y) != string(wantY) || string(u) != string(wantU) || string(v) != string(wantV) {
		t.Fatalf("Y %v U %v V %v; want Y %v U %v V %v", y, u, v, wantY, wantU, wantV)
	}
}
