package codec

import (
	"errors"
	"testing"

	"github.com/deskport/deskport/screen"
)

var errSize = errors.New("test: frame size")

func TestCheckFrame(t *testing.T) {
	ok := &screen.Frame{Width: 3, Height: 2, Stride: 16, Pix: make([]byte, 16+12)}
	if err := CheckFrame(ok, 3, 2, errSize); err != nil {
		t.Fatalf("a frame with every row present: %v", err)
	}
	for name, f := range map[string]*screen.Frame{
		"nil":          nil,
		"wrong size":   {Width: 4, Height: 2, Stride: 16, Pix: make([]byte, 32)},
		"short stride": {Width: 3, Height: 2, Stride: 8, Pix: make([]byte, 32)},
		"short pix":    {Width: 3, Height: 2, Stride: 16, Pix: make([]byte, 16+11)},
	} {
		if err := CheckFrame(f, 3, 2, errSize); !errors.Is(err, errSize) {
			t.Errorf("%s: %v, want the package's size error", name, err)
		}
	}
}

func TestLimits(t *testing.T) {
	errInvalid := errors.New("test: invalid")
	l := Limits{Codec: "X", MaxDimension: 100, Err: errInvalid}
	if err := l.Validate(100, 1, 30, MinBitrate, 1, 0); err != nil {
		t.Fatalf("settings at the limits: %v", err)
	}
	for name, v := range map[string][6]int{
		"zero width":   {0, 1, 30, MinBitrate, 1, 0},
		"too high":     {1, 101, 30, MinBitrate, 1, 0},
		"fps":          {1, 1, MaxFPS + 1, MinBitrate, 1, 0},
		"bitrate":      {1, 1, 30, MinBitrate - 1, 1, 0},
		"threads":      {1, 1, 30, MinBitrate, MaxThreads + 1, 0},
		"keyframe gap": {1, 1, 30, MinBitrate, 1, -1},
	} {
		if err := l.Validate(v[0], v[1], v[2], v[3], v[4], v[5]); !errors.Is(err, errInvalid) {
			t.Errorf("%s: %v, want the package's invalid-config error", name, err)
		}
	}
	for _, tt := range []struct{ ncpu, limit, want int }{{1, 4, 1}, {2, 4, 1}, {4, 4, 2}, {64, 4, 4}} {
		if got := DefaultThreads(tt.ncpu, tt.limit); got != tt.want {
			t.Errorf("DefaultThreads(%d, %d) = %d, want %d", tt.ncpu, tt.limit, got, tt.want)
		}
	}
	if Kbps(1499) != 1 || Kbps(1500) != 2 {
		t.Errorf("Kbps rounds 1499 to %d and 1500 to %d, want 1 and 2", Kbps(1499), Kbps(1500))
	}
}
