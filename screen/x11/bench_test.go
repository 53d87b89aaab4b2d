//go:build linux && cgo

package x11_test

import (
	"fmt"
	"testing"

	"github.com/deskport/deskport/internal/xpattern/xpatterntest"
	"github.com/deskport/deskport/screen/x11"
)

// BenchmarkCapture measures Capture on Xvfb. "changing" runs xpattern's clock (the screen
// changes every millisecond) and invalidates before every Capture, so each one grabs the whole
// screen and blends the cursor; "static" is the cost of a Capture that damage lets skip the
// grab (one round trip). fps is frames a second from one goroutine.
func BenchmarkCapture(b *testing.B) {
	for _, size := range [][2]int{{1280, 720}, {1920, 1080}} {
		for _, mode := range []string{"changing", "static"} {
			for _, shm := range []bool{true, false} {
				name := fmt.Sprintf("%dx%d/%s", size[0], size[1], mode)
				if !shm {
					if mode == "static" {
						continue
					}
					name += "/xgetimage"
				}
				b.Run(name, func(b *testing.B) {
					srv := startX(b, size[0], size[1])
					pat := "blocks"
					if mode == "changing" {
						pat = "clock"
					}
					xpatterntest.Start(b, xpatternBin, srv, pat)
					c := open(b, x11.Config{Display: srv.Display(), Monitor: x11.AllMonitors, Cursor: true, DisableSHM: !shm})
					capture(b, c)
					changed := 0
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						if mode == "changing" {
							c.Invalidate()
						}
						f, err := c.Capture()
						if err != nil {
							b.Fatal(err)
						}
						if f.Changed {
							changed++
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
					b.ReportMetric(float64(changed)/float64(b.N), "changed/op")
				})
			}
		}
	}
}
