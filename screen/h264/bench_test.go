//go:build cgo && unix

package h264

import (
	"fmt"
	"testing"

	"github.com/deskport/deskport/screen/internal/enctest"
)

var benchSizes = []struct{ w, h int }{{1280, 720}, {1920, 1080}}

// BenchmarkEncodeH264 encodes the moving picture at 3 Mbit/s and reports frames per second
// of encoding time (conversion included) and bytes per frame, with one and two threads. Run
// it with a fixed count, e.g. -benchtime=150x, so every size sees the same frames.
func BenchmarkEncodeH264(b *testing.B) {
	for _, sz := range benchSizes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%d/threads=%d", sz.w, sz.h, threads), func(b *testing.B) {
				benchEncode(b, Config{Width: sz.w, Height: sz.h, Bitrate: 3_000_000, Threads: threads})
			})
		}
	}
}

func benchEncode(b *testing.B, cfg Config) {
	enc, err := NewEncoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	enctest.Bench(b, enc, cfg.Width, cfg.Height, nil)
}
