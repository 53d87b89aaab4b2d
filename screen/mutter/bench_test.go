//go:build linux && cgo

package mutter_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/screen"
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

// BenchmarkClockLatency follows wlpattern's clock (repainted on every frame callback) through
// Mutter and PipeWire, stage by stage, for each frame the capture receives: paint→arrive is the
// time in the picture (the client painted and committed it) to the PipeWire buffer's dequeue in
// the consumer's loop thread; record→arrive is Mutter's SPA_META_Header pts (CLOCK_MONOTONIC
// when it recorded the frame) to the dequeue; arrive→capture is the dequeue to Capture returning
// it here. Medians in ms; queued is the share of frames dequeued together with an older one.
// MaxFPS is the host's default --fps.
func BenchmarkClockLatency(b *testing.B) {
	if buildErr != nil {
		b.Skip(buildErr)
	}
	for _, m := range [][3]int{{1280, 720, 60}, {1920, 1080, 60}, {1920, 1080, 30}} {
		b.Run(fmt.Sprintf("%dx%d@%d", m[0], m[1], m[2]), func(b *testing.B) {
			h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: m[0], Height: m[1], Refresh: m[2]})
			if err != nil {
				b.Skip(err)
			}
			defer h.Close()
			wlpattern.StartPattern(b, wlpatternBin, h, "clock")
			s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir(), MaxFPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c, err := s.Capturer(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			next := func() *screen.Frame {
				for {
					f, err := c.Capture()
					if err != nil {
						b.Fatal(err)
					}
					if f.Changed {
						return f
					}
					if err := c.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			// Past the window's zoom-in: the frames show a plausible time.
			for i := 0; ; i++ {
				f := next()
				now := time.Now().UnixMilli() & pattern.ClockMask
				if ms := pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height); ms <= now && now-ms < 2000 {
					break
				}
				if i == 300 {
					b.Fatal("no frame in 300 shows the time")
				}
			}
			// DESKPORT_LATENCY_TRACE names a file for one line per frame (the clock's ms, and the
			// arrival and pts in ns, arrival both on the wall clock and CLOCK_MONOTONIC), to line
			// up with a perf trace of Mutter (docs/wayland.md).
			var trace *os.File
			if name := os.Getenv("DESKPORT_LATENCY_TRACE"); name != "" {
				if trace, err = os.Create(name); err != nil {
					b.Fatal(err)
				}
				defer trace.Close()
			}
			var paint, record, capture []float64
			queued := 0
			mpid := childPid("mutter")
			m0 := procCPU(mpid)
			b.ResetTimer()
			for range b.N {
				f := next()
				got := time.Now()
				tm := c.Timing()
				ms := pattern.DecodeClock(f.Pix, f.Stride, f.Width, f.Height)
				arr := tm.Arrived.UnixMilli() & pattern.ClockMask
				paint = append(paint, float64(arr-ms))
				if tm.PTS >= 0 {
					record = append(record, float64(tm.ArrivedMono-tm.PTS)/1e6)
				}
				capture = append(capture, float64(got.Sub(tm.Arrived))/1e6)
				if tm.Batch > 1 {
					queued++
				}
				if trace != nil {
					fmt.Fprintf(trace, "%d %d %d %d %d\n", ms, tm.Arrived.UnixNano(), int64(tm.ArrivedMono), int64(tm.PTS), tm.Batch)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
			b.ReportMetric(100*(procCPU(mpid)-m0).Seconds()/b.Elapsed().Seconds(), "mutter-%cpu")
			b.ReportMetric(median(paint), "paint→arrive-ms")
			b.ReportMetric(median(record), "record→arrive-ms")
			b.ReportMetric(median(capture), "arrive→capture-ms")
			b.ReportMetric(float64(queued)/float64(b.N), "queued")
		})
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// childPid is the pid of this process's child named comm, 0 if none.
func childPid(comm string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(st, ')')
		if i < 0 || !bytes.HasSuffix(st[:i], []byte("("+comm)) {
			continue
		}
		f := strings.Fields(string(st[i+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			return pid
		}
	}
	return 0
}

// procCPU is a process's user + system time.
func procCPU(pid int) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid == 0 {
		return 0
	}
	i := bytes.LastIndexByte(st, ')')
	f := strings.Fields(string(st[i+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+sy) * time.Second / 100 // USER_HZ
}
