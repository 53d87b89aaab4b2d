package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// desktopHost is a real host sharing a desk's display, with its embedded rendezvous.
type desktopHost struct {
	p         *proc
	rendez    string // http://ADDR
	id        string
	link      string // http://ADDR/#ID
	code      string
	viewerKey string
}

// startDesktopHost runs bin/host on d's display with codec; a viewer key is authorized and a
// one-time code is printed (for the browser).
func startDesktopHost(ctx context.Context, bin, work string, d *desk, codec string) (*desktopHost, error) {
	return startHost(ctx, bin, work, codec, "--display", d.srv.Display())
}

// startHost runs bin/host with codec and the display arguments given (--display, or
// --virtual-display with --run ...), like startDesktopHost.
func startHost(ctx context.Context, bin, work, codec string, display ...string) (*desktopHost, error) {
	dir, err := os.MkdirTemp(work, "host")
	if err != nil {
		return nil, err
	}
	viewerKey := filepath.Join(dir, "viewer.key")
	line, err := exec.Command(filepath.Join(bin, "viewer"), "id", "--key", viewerKey).Output()
	if err != nil {
		return nil, fmt.Errorf("viewer id: %w", err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, line, 0o600); err != nil {
		return nil, err
	}
	args := append(append([]string(nil), display...), "--listen", "127.0.0.1:0",
		"--key", filepath.Join(dir, "host.key"), "--authorized-viewers", authorized, "--ice-loopback-only", "--codec", codec)
	p, err := startProc(ctx, filepath.Join(bin, "host"), args...)
	if err != nil {
		return nil, err
	}
	h := &desktopHost{p: p, viewerKey: viewerKey}
	m, err := p.waitFor(`open in a browser: (\S+)`, 30*time.Second)
	if err != nil {
		p.stop()
		return nil, err
	}
	h.link = m[1]
	h.rendez, h.id, _ = strings.Cut(h.link, "/#")
	if m, err = p.waitFor(`one-time code: (\S+)`, 5*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	h.code = m[1]
	if _, err := p.waitFor(`registered`, 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return h, nil
}

// streamRow is the host's cost while one native viewer records its screen.
type streamRow struct {
	Size       string  `json:"size"`
	Codec      string  `json:"codec"`
	Screen     string  `json:"screen"` // changing or static
	HostCPUPct float64 `json:"host_cpu_pct_of_core"`
	FPS        float64 `json:"delivered_fps"`
	Kbps       float64 `json:"delivered_kbps"`
	// VsPipeline is the host CPU over what capture + encode alone cost at the delivered frame
	// rate (from the encode section of the same run): the price of everything else.
	VsPipeline float64 `json:"ratio_vs_capture_encode,omitempty"`
	// VsChanging is this row's host CPU over the changing screen's, same size and codec.
	VsChanging float64 `json:"ratio_vs_changing,omitempty"`
}

// benchStream starts a host and `viewer record`, lets the stream settle, then measures the host
// process's CPU and the frames and bytes that reach the file over the given time.
func benchStream(ctx context.Context, cfg config, work string, d *desk, codec, mode string) (streamRow, error) {
	row := streamRow{Size: d.size(), Codec: codec, Screen: "changing"}
	pat := "clock"
	if mode == "static" {
		row.Screen, pat = "static", "blocks"
	}
	if err := d.pattern(pat); err != nil {
		return row, err
	}
	h, err := startDesktopHost(ctx, cfg.bin, work, d, codec)
	if err != nil {
		return row, fmt.Errorf("host: %w", err)
	}
	defer h.p.stop()
	ext := ".ivf"
	if codec == "h264" {
		ext = ".h264"
	}
	out := filepath.Join(work, fmt.Sprintf("rec-%s-%s-%s%s", d.size(), codec, mode, ext))
	v, err := startProc(ctx, filepath.Join(cfg.bin, "viewer"), "record", h.id, out, "--rendezvous", h.rendez,
		"--key", h.viewerKey, "--ice-loopback-only")
	if err != nil {
		return row, err
	}
	defer v.stop()
	if _, err := v.waitFor(`recording `, 60*time.Second); err != nil {
		return row, fmt.Errorf("viewer record: %w", err)
	}
	if !sleep(ctx, 2*time.Second) { // first keyframe, congestion control's first steps
		return row, ctx.Err()
	}
	pid := []int{h.p.cmd.Process.Pid}
	f0, b0 := countFrames(out, codec)
	c0, t0 := cpuSeconds(pid), time.Now()
	if !sleep(ctx, cfg.seconds) {
		return row, ctx.Err()
	}
	c1, wall := cpuSeconds(pid), time.Since(t0).Seconds()
	f1, b1 := countFrames(out, codec)
	row.HostCPUPct = 100 * (c1 - c0) / wall
	row.FPS = float64(f1-f0) / wall
	row.Kbps = float64(b1-b0) * 8 / wall / 1000
	return row, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// countFrames counts the complete frames in a recording so far and their bytes: IVF frame
// headers for VP8; for H.264 (Annex B) the slices that start a picture (first_mb_in_slice 0).
func countFrames(path, codec string) (frames int, size int64) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	if codec != "h264" {
		if len(data) < 32 {
			return 0, 0
		}
		hdr := int(binary.LittleEndian.Uint16(data[6:8]))
		for o := hdr; o+12 <= len(data); {
			n := int(binary.LittleEndian.Uint32(data[o:]))
			if o+12+n > len(data) {
				break
			}
			frames++
			size += int64(n)
			o += 12 + n
		}
		return frames, size
	}
	start := []byte{0, 0, 1}
	for o := 0; ; {
		i := bytes.Index(data[o:], start)
		if i < 0 || o+i+4 >= len(data) {
			break
		}
		o += i + 3
		nalType := data[o] & 0x1f
		// first_mb_in_slice is ue(v); its first bit is 1 exactly when the value is 0.
		if (nalType == 1 || nalType == 5) && data[o+1]&0x80 != 0 {
			frames++
		}
	}
	return frames, int64(len(data))
}

// viewersRow is the host's cost while several native viewers record the same monitor.
type viewersRow struct {
	Size       string  `json:"size"`
	Codec      string  `json:"codec"`
	Viewers    int     `json:"viewers"`
	HostCPUPct float64 `json:"host_cpu_pct_of_core"`
	MinFPS     float64 `json:"slowest_viewer_fps"`
	MeanFPS    float64 `json:"mean_viewer_fps"`
	// VsOne is this row's host CPU over the one-viewer row's, same size and codec (goal: ≤ 1.3
	// for four viewers, which share one capture and encode).
	VsOne float64 `json:"ratio_vs_one_viewer,omitempty"`
}

// benchViewers starts a host on a changing screen and n `viewer record` processes with the
// same settings, lets them settle, and measures the host's CPU and each recording's frames.
func benchViewers(ctx context.Context, cfg config, work string, d *desk, codec string, n int) (viewersRow, error) {
	row := viewersRow{Size: d.size(), Codec: codec, Viewers: n}
	if err := d.pattern("clock"); err != nil {
		return row, err
	}
	h, err := startDesktopHost(ctx, cfg.bin, work, d, codec)
	if err != nil {
		return row, fmt.Errorf("host: %w", err)
	}
	defer h.p.stop()
	ext := ".ivf"
	if codec == "h264" {
		ext = ".h264"
	}
	outs := make([]string, n)
	for i := range outs {
		outs[i] = filepath.Join(work, fmt.Sprintf("viewers-%s-%s-%d-%d%s", d.size(), codec, n, i, ext))
		v, err := startProc(ctx, filepath.Join(cfg.bin, "viewer"), "record", h.id, outs[i], "--rendezvous", h.rendez,
			"--key", h.viewerKey, "--ice-loopback-only")
		if err != nil {
			return row, err
		}
		defer v.stop()
		if _, err := v.waitFor(`recording `, 60*time.Second); err != nil {
			return row, fmt.Errorf("viewer record %d: %w", i, err)
		}
	}
	if !sleep(ctx, 2*time.Second) {
		return row, ctx.Err()
	}
	pid := []int{h.p.cmd.Process.Pid}
	f0 := make([]int, n)
	for i, out := range outs {
		f0[i], _ = countFrames(out, codec)
	}
	c0, t0 := cpuSeconds(pid), time.Now()
	if !sleep(ctx, cfg.seconds) {
		return row, ctx.Err()
	}
	c1, wall := cpuSeconds(pid), time.Since(t0).Seconds()
	row.HostCPUPct = 100 * (c1 - c0) / wall
	for i, out := range outs {
		f1, _ := countFrames(out, codec)
		fps := float64(f1-f0[i]) / wall
		row.MeanFPS += fps / float64(n)
		if i == 0 || fps < row.MinFPS {
			row.MinFPS = fps
		}
	}
	return row, nil
}
