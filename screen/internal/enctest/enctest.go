// Package enctest holds the checks every screen.Encoder must pass, whatever its codec: rate
// control follows SetBitrate, keyframes come at the interval asked for, frames of the wrong
// shape are refused before C code reads them, and Close is final. The codec packages run them
// on their own encoders and add what only their codec has (decoding, the bitstream's syntax).
package enctest

import (
	"errors"
	"testing"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/testpic"
)

// BytesPerFrame encodes n frames of the moving picture from frame start on and returns the
// mean size of the last n/2, after rate control has settled.
func BytesPerFrame(tb testing.TB, enc screen.Encoder, w, h, start, n int) int {
	tb.Helper()
	var f *screen.Frame
	total := 0
	for i := range n {
		f = testpic.Moving(f, w, h, start+i)
		data, _, err := enc.Encode(f, false)
		if err != nil {
			tb.Fatal(err)
		}
		if i >= n/2 {
			total += len(data)
		}
	}
	return total / (n - n/2)
}

// SetBitrate checks that a 640×360 encoder started at 5 Mbit/s makes frames less than half as
// large at 500 kbit/s and grows again at 5 Mbit/s, and refuses a bitrate out of range with
// errInvalid.
func SetBitrate(t *testing.T, enc screen.Encoder, errInvalid error) {
	t.Helper()
	const w, h = 640, 360
	high := BytesPerFrame(t, enc, w, h, 0, 40)
	if err := enc.SetBitrate(500_000); err != nil {
		t.Fatal(err)
	}
	low := BytesPerFrame(t, enc, w, h, 40, 60)
	if err := enc.SetBitrate(5_000_000); err != nil {
		t.Fatal(err)
	}
	high2 := BytesPerFrame(t, enc, w, h, 100, 60)
	t.Logf("bytes/frame: 5 Mbit/s %d, 500 kbit/s %d, back to 5 Mbit/s %d (targets %d and %d)",
		high, low, high2, 5_000_000/8/30, 500_000/8/30)
	if low*2 >= high || low*2 >= high2 {
		t.Errorf("500 kbit/s gave %d bytes/frame, 5 Mbit/s gave %d and %d: want less than half", low, high, high2)
	}
	if err := enc.SetBitrate(10); !errors.Is(err, errInvalid) {
		t.Errorf("SetBitrate(10) = %v, want %v", err, errInvalid)
	}
}

// KeyframeInterval encodes 35 frames of the moving picture w×h with an encoder set to a
// keyframe at least every 10 frames, and checks where the keyframes fall. isKey says whether
// the data itself is a keyframe (from the bitstream), which must agree with Encode's answer.
func KeyframeInterval(t *testing.T, enc screen.Encoder, w, h int, isKey func(t *testing.T, data []byte) bool) {
	t.Helper()
	var f *screen.Frame
	var keys []int
	for i := range 35 {
		f = testpic.Moving(f, w, h, i)
		data, key, err := enc.Encode(f, false)
		if err != nil {
			t.Fatal(err)
		}
		if key != isKey(t, data) {
			t.Fatalf("frame %d: Encode says keyframe %v, the bitstream disagrees", i, key)
		}
		if key {
			keys = append(keys, i)
		}
	}
	if len(keys) < 3 || keys[0] != 0 {
		t.Fatalf("keyframes at %v, want frame 0 and at least every 10 frames", keys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i]-keys[i-1] > 10 {
			t.Fatalf("keyframes at %v: gap over 10", keys)
		}
	}
}

// FrameChecks gives a 32×16 encoder frames of the wrong size, stride or length, each of which
// must fail with errSize, and then a good frame, which must still encode.
func FrameChecks(t *testing.T, enc screen.Encoder, errSize error) {
	t.Helper()
	good := testpic.Blocks(32, 16, 4*32)
	for name, f := range map[string]*screen.Frame{
		"nil":          nil,
		"wrong width":  testpic.Blocks(34, 16, 4*34),
		"wrong height": testpic.Blocks(32, 18, 4*32),
		"short stride": {Width: 32, Height: 16, Stride: 4*32 - 4, Pix: good.Pix},
		"short pix":    {Width: 32, Height: 16, Stride: 4 * 32, Pix: good.Pix[:len(good.Pix)-1]},
	} {
		if _, _, err := enc.Encode(f, false); !errors.Is(err, errSize) {
			t.Errorf("%s: Encode = %v, want %v", name, err, errSize)
		}
	}
	if _, _, err := enc.Encode(good, false); err != nil {
		t.Fatalf("good frame after bad ones: %v", err)
	}
}

// Close encodes one 16×16 frame, closes enc twice (the second Close is harmless), and checks
// that Encode and SetBitrate then fail with errClosed. It returns the frame it encoded, a copy
// that outlives the encoder.
func Close(t *testing.T, enc screen.Encoder, errClosed error) []byte {
	t.Helper()
	data, _, err := enc.Encode(testpic.Blocks(16, 16, 64), false)
	if err != nil {
		t.Fatal(err)
	}
	data = append([]byte(nil), data...)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := enc.Encode(testpic.Blocks(16, 16, 64), false); !errors.Is(err, errClosed) {
		t.Errorf("Encode after Close = %v, want %v", err, errClosed)
	}
	if err := enc.SetBitrate(1_000_000); !errors.Is(err, errClosed) {
		t.Errorf("SetBitrate after Close = %v, want %v", err, errClosed)
	}
	return data
}
