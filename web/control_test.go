package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/desktopctl"
	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/mux"
)

// TestControlInterop runs web/test/control-node.mjs: the page's control client (src/control.js)
// against the control package's strict framing and decoding: hello and stats read by the page,
// every request the page sends accepted by control.Read, a refusal, the host's close, and a
// refused open.
func TestControlInterop(t *testing.T) {
	node := needNode(t)
	defer goleak.VerifyNone(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "control-node.mjs"))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sess, err := mux.NewServerSession(procConn{r: stdout, w: stdin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := func(n int) *int { return &n }
	want := []desktopctl.Message{
		{Type: desktopctl.TypeKeyframe},
		{Type: desktopctl.TypeQuality, Preset: "high"},
		{Type: desktopctl.TypeQuality, FPS: 60, MaxBitrate: 2_500_000},
		{Type: desktopctl.TypeQuality, FPS: 24},
		{Type: desktopctl.TypeMonitor, Monitor: one(-1)},
		{Type: desktopctl.TypeMonitor, Monitor: one(7)},
		{Type: desktopctl.TypeMonitor, Monitor: one(1)},
	}
	var (
		got []desktopctl.Message
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			req, err := mux.ReadRequest(st)
			if err != nil || req.Kind != mux.KindControl || string(req.Payload) != "\x01" {
				t.Errorf("request %+v, %v", req, err)
			}
			if n > 0 {
				mux.WriteReply(st, mux.Reply{Status: mux.StatusNotAllowed, Message: "no view capability"})
				st.Close()
				continue
			}
			mux.WriteReply(st, mux.Reply{Status: mux.StatusOK})
			desktopctl.Write(st, &desktopctl.Message{Type: desktopctl.TypeHello, Monitors: []desktopctl.Monitor{
				{Index: 0, Name: "DP-1", Width: 1920, Height: 1080}, {Index: 1, Name: "HDMI-1", Width: 1280, Height: 1024}}})
			desktopctl.Write(st, &desktopctl.Message{Type: desktopctl.TypeStats, Stats: &desktopctl.Stats{FPS: 29.5, BitrateBps: 2_500_000, Width: 1920, Height: 1080, Keyframes: 3}})
			for range want {
				m, err := desktopctl.Read(st)
				if err != nil {
					t.Errorf("control.Read after %d messages: %v", len(got), err)
					break
				}
				got = append(got, *m)
				if m.Type == desktopctl.TypeMonitor && *m.Monitor == 7 {
					desktopctl.Write(st, &desktopctl.Message{Type: desktopctl.TypeError, Error: "no monitor 7"})
				}
			}
			st.Close()
		}
	}()
	select {
	case <-sess.CloseChan():
	case <-ctx.Done():
		t.Error("the session did not end")
	}
	sess.Close()
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("control-node.mjs: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n got %+v\nwant %+v", got, want)
	}
}

// TestClockDecoder runs web/test/clock-node.mjs on pictures painted here with pattern.ClockRect
// and pattern.ClockBit: the page's decodeClock must read what pattern.DecodeClock reads, on the
// 12×4 canvas the page uses and on larger odd-sized pictures where only each cell's centre pixel
// (as DecodeClock computes it) has the right colour.
func TestClockDecoder(t *testing.T) {
	node := needNode(t)
	type picture struct {
		Name   string `json:"name"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		RGBA   string `json:"rgba"`
		Want   int64  `json:"want"`
	}
	type delay struct {
		Now   int64 `json:"now"`
		Shown int64 `json:"shown"`
		Want  int64 `json:"want"`
	}
	spec := struct {
		Cols     int       `json:"cols"`
		Rows     int       `json:"rows"`
		Pictures []picture `json:"pictures"`
		Delays   []delay   `json:"delays"`
	}{Cols: pattern.ClockCols, Rows: pattern.ClockRows}

	rng := rand.New(rand.NewPCG(1, 2))
	times := []int64{0, 1, pattern.ClockMask, 1_760_000_000_123, 0x5555_5555_5555, 0xAAAA_AAAA_AAAA}
	for range 6 {
		times = append(times, rng.Int64N(1<<52))
	}
	paint := func(name string, ms int64, w, h int, trap, noise bool) {
		rgba := make([]byte, w*h*4)
		bgrx := make([]byte, w*h*4)
		set := func(x, y int, white bool) {
			v := byte(0)
			if white {
				v = 255
			}
			var c [3]byte
			for k := range c {
				c[k] = v
				if noise { // compression-like error, never across the threshold
					if white {
						c[k] = 255 - byte(rng.IntN(70))
					} else {
						c[k] = byte(rng.IntN(70))
					}
				}
			}
			o := (y*w + x) * 4
			copy(rgba[o:], []byte{c[0], c[1], c[2], 255})
			copy(bgrx[o:], []byte{c[2], c[1], c[0], 0})
		}
		for i := range pattern.ClockBits {
			x0, y0, x1, y1 := pattern.ClockRect(i, w, h)
			bit := pattern.ClockBit(ms, i)
			cx, cy := (x0+x1)/2, (y0+y1)/2
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					set(x, y, bit != (trap && (x != cx || y != cy)))
				}
			}
		}
		want := ms & pattern.ClockMask
		if got := pattern.DecodeClock(bgrx, w*4, w, h); got != want {
			t.Fatalf("%s: pattern.DecodeClock = %d, want %d", name, got, want)
		}
		spec.Pictures = append(spec.Pictures, picture{name, w, h, base64.StdEncoding.EncodeToString(rgba), want})
	}
	for i, ms := range times {
		paint("page canvas", ms, pattern.ClockCols, pattern.ClockRows, false, i%2 == 1)
		paint("centre only", ms, 97+i*13, 41+i*7, true, false)
		paint("noisy", ms, 320, 180, false, true)
	}
	for _, d := range []int64{0, 37, 120, 4999} {
		for _, shown := range []int64{0, 1_760_000_000_123 & pattern.ClockMask, pattern.ClockMask - 10} {
			// The page's clock is the full Unix time (a multiple of 2^48 above the shown one).
			spec.Delays = append(spec.Delays, delay{Now: 6<<pattern.ClockBits + shown + d, Shown: shown, Want: d})
		}
	}

	file := filepath.Join(t.TempDir(), "clock.json")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join("test", "clock-node.mjs"), file).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("clock-node.mjs: %v", err)
	}
}
