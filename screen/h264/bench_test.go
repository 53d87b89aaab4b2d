//go:build cgo && unix

package h264

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/screen"
)

var benchSizes = []struct{ w, h int }{{1280, 720}, {1920, 1080}}

// BenchmarkEncodeH264 encodes the moving picture at 3 Mbit/s and reports frames per second
// of encoding time (conversion included) and bytes per frame, with one and two threads. Run it with a fixed count, e.g. -benchtime=150x, so every size sees the same frames.
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
	var f *screen.Frame
	var total int
	var busy, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		f = movingFrame(f, cfg.Width, cfg.Height, i)
		b.StartTimer()
		cpu0 := cpuTime()
		start := time.Now()
		data, _, err := enc.Encode(f, false)
		busy += time.Since(start)
		cpu += cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		total += len(data)
	}
	b.ReportMetric(float64(b.N)/busy.Seconds(), "fps")
	// CPU time is the figure to trust on a shared machine: other processes stretch the wall
	// clock but not the work done. At 30 fps, cpu-ms/frame × 3 is the percent of one core.
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/frame")
	b.ReportMetric(float64(total)/float64(b.N), "bytes/frame")
}

// cpuTime is the CPU time (user and system) this process has used, all threads included, so
// it counts the encoder's worker threads too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
