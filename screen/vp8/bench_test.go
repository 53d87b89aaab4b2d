//go:build cgo && unix

package vp8

import (
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/enctest"
)

var benchSizes = []struct{ w, h int }{{1280, 720}, {1920, 1080}}

// BenchmarkEncodeVP8 encodes the moving picture at 3 Mbit/s with the default settings and
// reports frames per second of encoding time (conversion included) and bytes per frame.
// Run it with a fixed count, e.g. -benchtime=150x, so every size sees the same frames.
func BenchmarkEncodeVP8(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(b *testing.B) {
			benchEncode(b, Config{Width: sz.w, Height: sz.h, Bitrate: 3_000_000})
		})
	}
}

// BenchmarkVP8CPUUsed compares libvpx speed settings; docs/codecs.md has the table.
func BenchmarkVP8CPUUsed(b *testing.B) {
	for _, sz := range benchSizes {
		for _, cpu := range []int{-4, -6, -8, -12, -16} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%dx%d/cpu=%d/threads=%d", sz.w, sz.h, cpu, threads), func(b *testing.B) {
					benchEncode(b, Config{Width: sz.w, Height: sz.h, Bitrate: 3_000_000, CPUUsed: cpu, Threads: threads})
				})
			}
		}
	}
}

func benchEncode(b *testing.B, cfg Config) {
	enc, err := NewEncoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	var sqErr float64
	enctest.Bench(b, enc, cfg.Width, cfg.Height, func(f *screen.Frame, data []byte) {
		img, err := dec.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		sqErr += meanSquaredError(f, img)
	})
	b.ReportMetric(10*math.Log10(255*255/(sqErr/float64(b.N))), "dB-PSNR")
}

// meanSquaredError compares the R, G and B of the source frame with the decoded picture.
func meanSquaredError(f *screen.Frame, img *image.RGBA) float64 {
	var sum float64
	for y := range f.Height {
		src := f.Pix[y*f.Stride:]
		dst := img.Pix[y*img.Stride:]
		for x := range f.Width {
			for c := range 3 {
				d := float64(src[4*x+2-c]) - float64(dst[4*x+c])
				sum += d * d
			}
		}
	}
	return sum / float64(3*f.Width*f.Height)
}
