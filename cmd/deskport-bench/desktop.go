package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/h264"
	"github.com/deskport/deskport/screen/vp8"
	"github.com/deskport/deskport/screen/x11"
	"github.com/deskport/deskport/screen/xvfb"
)

// desk is one virtual display with xpattern painting on it; every desktop section runs on it.
type desk struct {
	srv   *xvfb.Server
	w, h  int
	stdin io.WriteCloser
	lines chan string
	proc  *xvfb.Proc
}

func (d *desk) size() string { return fmt.Sprintf("%d×%d", d.w, d.h) }

// startDesk starts Xvfb at w×h and xpattern on it with the clock pattern.
func startDesk(ctx context.Context, xpattern string, w, h int) (*desk, error) {
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: w, Height: h})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(xpattern, "-display", srv.Display(), "-pattern", "clock")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		srv.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		srv.Close()
		return nil, err
	}
	cmd.Stderr = os.Stderr
	proc, err := srv.Start(ctx, cmd)
	if err != nil {
		srv.Close()
		return nil, err
	}
	d := &desk{srv: srv, w: w, h: h, stdin: stdin, lines: make(chan string, 16), proc: proc}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	if got := d.expect(); got != "ready" {
		d.close()
		return nil, fmt.Errorf("xpattern: want ready, got %q", got)
	}
	return d, nil
}

func (d *desk) expect() string {
	select {
	case l, ok := <-d.lines:
		if !ok {
			return "<exited>"
		}
		return l
	case <-time.After(30 * time.Second):
		return "<no answer in 30s>"
	}
}

// pattern switches xpattern to "clock" (changes every millisecond) or "blocks" (static) and
// returns once the picture is on screen.
func (d *desk) pattern(mode string) error {
	if _, err := io.WriteString(d.stdin, mode+"\n"); err != nil {
		return fmt.Errorf("xpattern %s: %w", mode, err)
	}
	if got := d.expect(); got != "ok" {
		return fmt.Errorf("xpattern %s: want ok, got %q", mode, got)
	}
	return nil
}

// xvfbPid finds the Xvfb process this program started for d (its child, named Xvfb; one desk
// runs at a time).
func (d *desk) xvfbPid() int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil || !strings.HasPrefix(string(data[strings.IndexByte(string(data), ' ')+1:]), "(Xvfb)") {
			continue
		}
		f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(e.Name())
			return pid
		}
	}
	return 0
}

func (d *desk) close() {
	d.stdin.Close()
	d.proc.Stop()
	d.srv.Close()
}

// buildXpattern compiles the test picture program into dir.
func buildXpattern(dir string) (string, error) {
	bin := filepath.Join(dir, "xpattern")
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	out, err := exec.Command(gocmd, "build", "-o", bin, "github.com/deskport/deskport/internal/xpattern").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building xpattern: %v\n%s", err, out)
	}
	return bin, nil
}

// captureRow is one capture method at one screen size.
type captureRow struct {
	Size        string  `json:"size"`
	Method      string  `json:"method"`
	FPS         float64 `json:"fps"`
	CPUms       float64 `json:"cpu_ms_per_frame"`
	XCPUms      float64 `json:"x_server_cpu_ms_per_frame"`
	VsXGetImage float64 `json:"ratio_fps_vs_xgetimage"`
}

// encodeRow is one codec at one screen size, on frames captured from the changing screen.
type encodeRow struct {
	Size          string  `json:"size"`
	Codec         string  `json:"codec"`
	Picture       string  `json:"picture"`
	FPS           float64 `json:"fps"`
	CPUms         float64 `json:"cpu_ms_per_frame"`
	BytesPerFrame float64 `json:"bytes_per_frame"`
	VsTarget      float64 `json:"ratio_bytes_vs_target"`
	VsRealtime    float64 `json:"ratio_fps_vs_30"`
	Dropped       int     `json:"dropped"`
}

// benchCapture grabs frames full-screen frames from the changing screen with MIT-SHM and with
// XGetImage. Invalidate before each Capture makes every one a whole-screen grab, the cost of a
// frame in which anything changed.
func benchCapture(d *desk, frames int) ([]captureRow, error) {
	if err := d.pattern("clock"); err != nil {
		return nil, err
	}
	var rows []captureRow
	for _, shm := range []bool{true, false} {
		c, err := x11.Open(x11.Config{Display: d.srv.Display(), Monitor: x11.AllMonitors, Cursor: true, DisableSHM: !shm})
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		if shm && !c.SHM() {
			c.Close()
			return nil, fmt.Errorf("capture: MIT-SHM is not usable on %s", d.srv.Display())
		}
		if _, err := c.Capture(); err != nil { // warm-up: connection and buffers
			c.Close()
			return nil, err
		}
		// The X server does the copying for MIT-SHM: its CPU counts, less what it spends on
		// xpattern's painting, measured just before over the same kind of interval.
		xs := []int{d.xvfbPid()}
		x0, t0 := cpuSeconds(xs), time.Now()
		sleep(context.Background(), 500*time.Millisecond)
		idle := (cpuSeconds(xs) - x0) / time.Since(t0).Seconds()
		n := 0
		x0, cpu0, start := cpuSeconds(xs), cpuTime(), time.Now()
		for ; n < frames || time.Since(start) < time.Second; n++ {
			c.Invalidate()
			if _, err := c.Capture(); err != nil {
				c.Close()
				return nil, err
			}
		}
		wall, cpu := time.Since(start), cpuTime()-cpu0
		xcpu := max(cpuSeconds(xs)-x0-idle*wall.Seconds(), 0)
		c.Close()
		method := "MIT-SHM (deskport)"
		if !shm {
			method = "XGetImage (baseline)"
		}
		rows = append(rows, captureRow{Size: d.size(), Method: method, FPS: float64(n) / wall.Seconds(),
			CPUms: ms(cpu) / float64(n), XCPUms: xcpu * 1000 / float64(n)})
	}
	for i := range rows {
		rows[i].VsXGetImage = rows[i].FPS / rows[len(rows)-1].FPS
	}
	return rows, nil
}

// newEncoder opens codec at the default settings (3 Mbit/s, 30 fps).
func newEncoder(codec string, w, h int) (screen.Encoder, error) {
	switch codec {
	case screen.CodecVP8:
		return vp8.NewEncoder(vp8.Config{Width: w, Height: h})
	case screen.CodecH264:
		return h264.NewEncoder(h264.Config{Width: w, Height: h})
	}
	return nil, fmt.Errorf("unknown codec %q", codec)
}

// warmFrames are encoded before the measured frames: the first is a keyframe and rate control
// settles over the next ones.
const warmFrames = 10

// Pictures for benchEncode.
const (
	// pictureClock is xpattern's clock: a few cells change between frames, like a desktop
	// where a clock, a cursor or a line of text changes.
	pictureClock = "clock"
	// pictureBlocks steps the blocks pattern before every frame, so every pixel changes
	// colour: a scene change every frame, the codecs' worst case.
	pictureBlocks = "all blocks recoloured"
)

// benchEncode captures frames from the changing screen and encodes each one as it comes, the way
// the host does, timing the Encode calls only.
func benchEncode(d *desk, codec, picture string, frames int) (encodeRow, error) {
	row := encodeRow{Size: d.size(), Codec: codec, Picture: picture}
	mode := "clock"
	if picture == pictureBlocks {
		mode = "blocks"
	}
	if err := d.pattern(mode); err != nil {
		return row, err
	}
	c, err := x11.Open(x11.Config{Display: d.srv.Display(), Monitor: x11.AllMonitors, Cursor: true})
	if err != nil {
		return row, fmt.Errorf("capture: %w", err)
	}
	defer c.Close()
	enc, err := newEncoder(codec, d.w, d.h)
	if err != nil {
		return row, fmt.Errorf("%s encoder: %w", codec, err)
	}
	defer enc.Close()
	var wall, cpu time.Duration
	var bytes int
	for i := range warmFrames + frames {
		if picture == pictureBlocks {
			if err := d.pattern("next"); err != nil {
				return row, err
			}
		}
		c.Invalidate()
		f, err := c.Capture()
		if err != nil {
			return row, err
		}
		cpu0, start := cpuTime(), time.Now()
		data, _, err := enc.Encode(f, false)
		dw, dc := time.Since(start), cpuTime()-cpu0
		if err != nil {
			return row, fmt.Errorf("%s encode: %w", codec, err)
		}
		if i < warmFrames {
			continue
		}
		wall += dw
		cpu += dc
		bytes += len(data)
		if data == nil {
			row.Dropped++
		}
	}
	row.FPS = float64(frames) / wall.Seconds()
	row.CPUms = ms(cpu) / float64(frames)
	row.BytesPerFrame = float64(bytes) / float64(frames)
	row.VsTarget = row.BytesPerFrame / (3e6 / 8 / 30)
	row.VsRealtime = row.FPS / 30
	return row, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// parseSizes reads "1280x720,1920x1080".
func parseSizes(s string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		w, h, err := xvfb.ParseSize(part)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]int{w, h})
	}
	return out, nil
}
