package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/deskport/deskport/internal/xpattern/pattern"
)

//go:embed browser.cjs
var browserScript []byte

// browser is headless Chromium driven by browser.cjs through Playwright.
type browser struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startBrowser writes the driver into work and starts it. nodeDir holds package.json with
// playwright-core; npm ci runs there first if node_modules is missing.
func startBrowser(ctx context.Context, work, nodeDir, chromium string) (*browser, error) {
	nodeDir, err := filepath.Abs(nodeDir)
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(nodeDir, "node_modules", "playwright-core")
	if _, err := os.Stat(pw); err != nil {
		fmt.Fprintf(os.Stderr, "  npm ci in %s (playwright-core is missing)\n", nodeDir)
		npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = nodeDir
		if out, err := npm.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %v\n%s", nodeDir, err, out)
		}
	}
	script := filepath.Join(work, "browser.cjs")
	if err := os.WriteFile(script, browserScript, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+pw, "CHROMIUM="+chromium)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &browser{cmd: cmd, in: in, out: sc}, nil
}

// do sends one command and decodes the answer into v.
func (b *browser) do(req map[string]any, v any) error {
	line, _ := json.Marshal(req)
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	if !b.out.Scan() {
		return errors.New("browser: the driver exited")
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b.out.Bytes(), &status); err != nil {
		return fmt.Errorf("browser: %w: %s", err, b.out.Bytes())
	}
	if !status.OK {
		return fmt.Errorf("browser: %s", status.Error)
	}
	return json.Unmarshal(b.out.Bytes(), v)
}

func (b *browser) close() {
	b.in.Close()
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
}

// firstRow is the time from opening the viewer page to its first frame.
type firstRow struct {
	Size  string `json:"size"`
	Codec string `json:"codec"`
	// FirstMs is page open (goto) to the first presented video frame
	// (requestVideoFrameCallback), median of the rounds.
	FirstMs float64 `json:"first_frame_ms"`
	// StatsMs is page open to the page's own window.deskport.framesDecoded > 0, which samples
	// getStats() once a second: the same event seen up to a second late.
	StatsMs float64   `json:"stats_framesdecoded_ms"`
	Runs    []float64 `json:"first_frame_ms_runs"`
	// VsForward is FirstMs over the forward section's time to the first forwarded byte (a
	// native viewer: rendezvous, ICE, DTLS, SCTP, authentication, one stream), same run.
	VsForward float64 `json:"ratio_vs_first_forwarded_byte,omitempty"`
}

// benchFirstFrame restarts the host for every round (a one-time code is good once) and opens
// the page with the code in its fragment, which connects at once.
func benchFirstFrame(ctx context.Context, cfg config, work string, b *browser, d *desk, codec string) (firstRow, error) {
	row := firstRow{Size: d.size(), Codec: codec}
	if err := d.pattern("clock"); err != nil {
		return row, err
	}
	var stats []float64
	for range cfg.rounds {
		h, err := startDesktopHost(ctx, cfg.bin, work, d, codec)
		if err != nil {
			return row, fmt.Errorf("host: %w", err)
		}
		var res struct {
			First float64 `json:"first_frame_ms"`
			Stats float64 `json:"stats_ms"`
		}
		err = b.do(map[string]any{"cmd": "first", "url": h.link + "/" + h.code}, &res)
		h.p.stop()
		if err != nil {
			return row, err
		}
		row.Runs = append(row.Runs, res.First)
		stats = append(stats, res.Stats)
	}
	row.FirstMs, row.StatsMs = median(row.Runs), median(stats)
	return row, nil
}

// latencyRow is glass-to-glass latency: xpattern paints the time, the host captures, encodes
// and sends it, Chromium decodes and presents it, and the page reads the time back.
type latencyRow struct {
	Size    string  `json:"size"`
	Codec   string  `json:"codec"`
	Frames  int     `json:"frames"`
	Misread int     `json:"misread"`
	Median  float64 `json:"median_ms"`
	P95     float64 `json:"p95_ms"`
	Min     float64 `json:"min_ms"`
	// VsFrame is the median over one frame interval at the host's 30 fps (33.3 ms), the wait a
	// change has before the next capture at worst.
	VsFrame float64 `json:"ratio_median_vs_frame_interval"`
	// Held is the median time from a frame's last packet's arrival to its presentation in
	// Chromium (requestVideoFrameCallback's receiveTime and presentationTime: the jitter
	// buffer, decoding, the wait for the display); -1 when Chromium gave no receiveTime.
	Held float64 `json:"received_to_presented_ms"`
	// JitterBuffer, JitterTarget and Decode are Chromium's inbound video stats over the
	// measurement, per frame: the time frames spent in the jitter buffer, the delay it aimed
	// at, and the decode time (ms; 0 when the stats lacked them).
	JitterBuffer float64 `json:"jitter_buffer_ms"`
	JitterTarget float64 `json:"jitter_target_ms"`
	Decode       float64 `json:"decode_ms"`
}

func benchLatency(ctx context.Context, cfg config, work string, b *browser, d *desk, codec string) (latencyRow, error) {
	row := latencyRow{Size: d.size(), Codec: codec}
	if err := d.pattern("clock"); err != nil {
		return row, err
	}
	h, err := startDesktopHost(ctx, cfg.bin, work, d, codec)
	if err != nil {
		return row, fmt.Errorf("host: %w", err)
	}
	defer h.p.stop()
	return latencyVia(ctx, cfg, b, h, d.size(), codec)
}

// latencyVia measures glass-to-glass latency through a running host whose screen shows the
// clock; the browser takes its one-time code.
func latencyVia(ctx context.Context, cfg config, b *browser, h *desktopHost, size, codec string) (latencyRow, error) {
	row := latencyRow{Size: size, Codec: codec}
	var res struct {
		Lat    []float64 `json:"lat"`
		Bad    int       `json:"bad"`
		Frames int       `json:"frames"`
		Held   []float64 `json:"held"`
		JB     float64   `json:"jb"`
		Target float64   `json:"jbTarget"`
		Decode float64   `json:"decode"`
	}
	if err := b.do(map[string]any{"cmd": "latency", "url": h.link + "/" + h.code, "warmup": 2, "seconds": cfg.seconds.Seconds(),
		"cols": pattern.ClockCols, "rows": pattern.ClockRows, "bits": pattern.ClockBits}, &res); err != nil {
		return row, err
	}
	row.Frames, row.Misread = res.Frames, res.Bad
	if len(res.Lat) == 0 {
		return row, fmt.Errorf("latency %s %s: no frame could be read (%d frames)", size, codec, res.Frames)
	}
	row.Median = percentile(res.Lat, 50)
	row.P95 = percentile(res.Lat, 95)
	row.Min = slices.Min(res.Lat)
	row.VsFrame = row.Median / (1000.0 / 30)
	row.JitterBuffer, row.JitterTarget, row.Decode = res.JB, res.Target, res.Decode
	row.Held = -1
	if len(res.Held) > 0 {
		row.Held = percentile(res.Held, 50)
	}
	return row, nil
}

// percentile is the nearest-rank percentile p (0..100) of v.
func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
