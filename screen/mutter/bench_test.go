//go:build linux && cgo

package mutter_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/vp8"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFrame measures one changed frame through Mutter: the Wayland client repaints the
// whole screen, Mutter composites it and hands it over PipeWire, the capture copies it (and,
// in "encode", VP8 encodes it as the host would). fps is changed frames a second from one
// goroutine, paced by the client; cpu-ms/frame is this process's CPU (capture and encode, not
// Mutter's or the client's).
func BenchmarkFrame(b *testing.B) {
	if buildErr != nil {
		b.Skip(buildErr)
	}
	for _, size := range [][2]int{{1280, 720}, {1920, 1080}} {
		for _, encode := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d/capture", size[0], size[1])
			if encode {
				name = fmt.Sprintf("%dx%d/encode", size[0], size[1])
			}
			b.Run(name, func(b *testing.B) {
				h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: size[0], Height: size[1]})
				if err != nil {
					b.Skip(err)
				}
				defer h.Close()
				wp := wlpattern.Start(b, wlpatternBin, h)
				s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir(), Cursor: true})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				c, err := s.Capturer(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var enc *vp8.Encoder
				if encode {
					if enc, err = vp8.NewEncoder(vp8.Config{Width: size[0], Height: size[1], FPS: 30, Bitrate: 3_000_000}); err != nil {
						b.Fatal(err)
					}
					defer enc.Close()
				}
				ctx := context.Background()
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					wp.Next()
					for {
						f, err := c.Capture()
						if err != nil {
							b.Fatal(err)
						}
						if f.Changed {
							if enc != nil {
								if _, _, err := enc.Encode(f, false); err != nil {
									b.Fatal(err)
								}
							}
							break
						}
						if err := c.Wait(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/frame")
			})
		}
	}
}
