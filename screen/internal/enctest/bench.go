//go:build unix

package enctest

import (
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/testpic"
)

// Bench encodes the moving picture w×h with enc, one frame per iteration, and reports frames
// per second of encoding time (conversion included), CPU milliseconds per frame and bytes per
// frame. after, if not nil, sees every frame and its encoding with the timer stopped (the VP8
// benchmark decodes it to measure the quality). Run it with a fixed count, e.g.
// -benchtime=150x, so every size sees the same frames.
func Bench(b *testing.B, enc screen.Encoder, w, h int, after func(f *screen.Frame, data []byte)) {
	var f *screen.Frame
	var total int
	var busy, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		f = testpic.Moving(f, w, h, i)
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
		if after != nil {
			b.StopTimer()
			after(f, data)
			b.StartTimer()
		}
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
