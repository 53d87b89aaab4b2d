//go:build cgo

package vp8

import (
	"errors"
	"fmt"
	"image"
	"testing"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/enctest"
)

func newEncoder(t testing.TB, cfg Config) *Encoder {
	t.Helper()
	enc, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func newDecoder(t testing.TB) *Decoder {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	t.Cleanup(func() { dec.Close() })
	return dec
}

// isKeyframeTag reports whether a VP8 frame's tag says keyframe (RFC 6386 9.1: bit 0 of the
// first byte is 0) and carries the keyframe start code.
func isKeyframeTag(data []byte) bool {
	return len(data) >= 10 && data[0]&1 == 0 && data[3] == 0x9d && data[4] == 0x01 && data[5] == 0x2a
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// checkBlocks compares img with blockColour, leaving a margin around block edges, where
// chroma subsampling and the codec blur the boundary.
func checkBlocks(t *testing.T, img *image.RGBA, w, h int) {
	t.Helper()
	const tol, margin = 24, 4
	bad := 0
	for y := range h {
		for x := range w {
			c := blockColour(x, y, w, h)
			if blockColour(max(x-margin, 0), y, w, h) != c || blockColour(min(x+margin, w-1), y, w, h) != c ||
				blockColour(x, max(y-margin, 0), w, h) != c || blockColour(x, min(y+margin, h-1), w, h) != c {
				continue
			}
			got := img.RGBAAt(x, y)
			if absDiff(got.R, c.R) > tol || absDiff(got.G, c.G) > tol || absDiff(got.B, c.B) > tol {
				if bad < 5 {
					t.Errorf("pixel (%d,%d) = %v, want %v ±%d", x, y, got, c, tol)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d pixels out of tolerance", bad)
	}
}

func TestRoundTripColours(t *testing.T) {
	for _, sz := range []struct{ w, h, stride int }{
		{128, 96, 4 * 128},
		{160, 120, 4*160 + 64}, // padded rows, as X11 may hand out
		{67, 45, 4 * 67},       // odd: encoded as it is
		{1, 1, 4},
		{1280, 720, 4 * 1280},
	} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			enc := newEncoder(t, Config{Width: sz.w, Height: sz.h})
			dec := newDecoder(t)
			f := blockFrame(sz.w, sz.h, sz.stride)
			var img *image.RGBA
			// The first frame is a keyframe; a few more let rate control refine it, and each
			// one must decode to the same picture.
			for i := range 3 {
				data, isKey, err := enc.Encode(f, false)
				if err != nil {
					t.Fatal(err)
				}
				if data == nil {
					t.Fatalf("frame %d dropped", i)
				}
				if want := i == 0; isKey != want || isKeyframeTag(data) != want {
					t.Fatalf("frame %d: isKey %v, tag says keyframe %v; want %v", i, isKey, isKeyframeTag(data), want)
				}
				img, err = dec.Decode(data)
				if err != nil {
					t.Fatalf("decode frame %d: %v", i, err)
				}
				if img.Bounds() != image.Rect(0, 0, sz.w, sz.h) {
					t.Fatalf("decoded size %v, want %dx%d", img.Bounds(), sz.w, sz.h)
				}
				checkBlocks(t, img, sz.w, sz.h)
			}
		})
	}
}

func TestKeyframeOnRequest(t *testing.T) {
	const w, h = 320, 240
	enc := newEncoder(t, Config{Width: w, Height: h})
	dec := newDecoder(t)
	var f *screen.Frame
	for i := range 20 {
		f = movingFrame(f, w, h, i)
		want := i == 0 || i == 7 || i == 8 || i == 15
		data, isKey, err := enc.Encode(f, want && i != 0)
		if err != nil {
			t.Fatal(err)
		}
		if isKey != want || isKeyframeTag(data) != want {
			t.Fatalf("frame %d: isKey %v, tag keyframe %v; want %v", i, isKey, isKeyframeTag(data), want)
		}
		if _, err := dec.Decode(data); err != nil {
			t.Fatalf("decode frame %d: %v", i, err)
		}
	}
	// A keyframe can start a fresh decoder.
	data, isKey, err := enc.Encode(movingFrame(f, w, h, 20), true)
	if err != nil || !isKey {
		t.Fatalf("forced keyframe: isKey %v, err %v", isKey, err)
	}
	if _, err := newDecoder(t).Decode(data); err != nil {
		t.Fatalf("fresh decoder on keyframe: %v", err)
	}
}

func TestKeyframeInterval(t *testing.T) {
	enc := newEncoder(t, Config{Width: 64, Height: 64, KeyframeInterval: 10})
	enctest.KeyframeInterval(t, enc, 64, 64, func(_ *testing.T, data []byte) bool { return isKeyframeTag(data) })
}

func TestSetBitrate(t *testing.T) {
	enctest.SetBitrate(t, newEncoder(t, Config{Width: 640, Height: 360, Bitrate: 5_000_000}), ErrInvalidConfig)
}

func TestFrameChecks(t *testing.T) {
	enctest.FrameChecks(t, newEncoder(t, Config{Width: 32, Height: 16}), ErrFrameSize)
}

func TestClose(t *testing.T) {
	enc, err := NewEncoder(Config{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	data := enctest.Close(t, enc, ErrClosed)
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(data); err != nil {
		t.Fatal(err)
	}
	dec.Close()
	dec.Close()
	if _, err := dec.Decode(data); !errors.Is(err, ErrClosed) {
		t.Errorf("Decode after Close = %v, want ErrClosed", err)
	}
}

func TestDecodeGarbage(t *testing.T) {
	dec := newDecoder(t)
	for _, data := range [][]byte{nil, {0}, {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 1, 2, 3}, make([]byte, 100)} {
		if _, err := dec.Decode(data); err == nil {
			t.Errorf("Decode(%x) succeeded", data)
		}
	}
}

// FuzzDecode feeds the decoder arbitrary bytes after a valid keyframe: a viewer decodes
// whatever the network delivers, so it must fail cleanly, never crash.
func FuzzDecode(f *testing.F) {
	enc, err := NewEncoder(Config{Width: 48, Height: 32})
	if err != nil {
		f.Fatal(err)
	}
	key, _, err := enc.Encode(blockFrame(48, 32, 4*48), false)
	if err != nil {
		f.Fatal(err)
	}
	key = append([]byte(nil), key...)
	inter, _, err := enc.Encode(movingFrame(nil, 48, 32, 1), false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte(nil), inter...))
	f.Add(key)
	enc.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if _, err := dec.Decode(key); err != nil {
			t.Fatal(err)
		}
		img, err := dec.Decode(data)
		if err == nil && (img.Bounds().Dx() <= 0 || img.Bounds().Dy() <= 0) {
			t.Fatalf("empty picture %v without error", img.Bounds())
		}
	})
}

// EncodeAgain encodes the picture of the last Encode without a frame: after a keyframe of the
// blocks, a refresh and a requested keyframe from EncodeAgain decode to the same blocks, the
// keyframe on a fresh decoder too, though the frame's pixels were overwritten meanwhile.
func TestEncodeAgain(t *testing.T) {
	const w, h = 160, 120
	enc := newEncoder(t, Config{Width: w, Height: h})
	if _, _, err := enc.EncodeAgain(false); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("EncodeAgain before Encode = %v, want %v", err, ErrFrameSize)
	}
	dec := newDecoder(t)
	f := blockFrame(w, h, 4*w)
	data, _, err := enc.Encode(f, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(data); err != nil {
		t.Fatal(err)
	}
	clear(f.Pix) // the capturer's buffer moves on; the encoder's picture does not
	for i, key := range []bool{false, true} {
		data, isKey, err := enc.EncodeAgain(key)
		if err != nil {
			t.Fatal(err)
		}
		if isKey != key || isKeyframeTag(data) != key {
			t.Fatalf("EncodeAgain(%v) %d: isKey %v, tag keyframe %v", key, i, isKey, isKeyframeTag(data))
		}
		img, err := dec.Decode(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		checkBlocks(t, img, w, h)
		if key {
			img, err := newDecoder(t).Decode(data)
			if err != nil {
				t.Fatalf("fresh decoder on EncodeAgain's keyframe: %v", err)
			}
			checkBlocks(t, img, w, h)
		}
	}
}
