package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/deskport/deskport/internal/netlab"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type config struct {
	bin, out string
	mib      int64
	streams  int
	rounds   int
	only     map[string]bool
	sizes    [][2]int
	codecs   []string
	frames   int
	seconds  time.Duration
	nodeDir  string
	chromium string
	xpattern string
	lpMiB    int64           // longpath: MiB per run
	lpLimit  time.Duration   // longpath: time limit per run
	lpRounds int             // longpath: runs per path and stack
	lpRTTs   []time.Duration // longpath: loss-free paths to run instead of the standard four
	lpNoPion bool            // longpath: skip the bare pion data channel
	lpTrace  time.Duration   // longpath: trace deskport runs, sampling this often (0: off)
	opens    int             // streamopen: opens per figure
	wlRounds int             // wayland: rounds, each the X11 path then the Mutter path

	rvHosts     int           // rendezvous: idle hosts on one instance
	rvRate      float64       // rendezvous: new viewer sessions a second
	rvPeriod    time.Duration // rendezvous: how long each latency figure runs
	rvIdle      time.Duration // rendezvous: the idle window CPU is measured over
	rvFailHosts int           // rendezvous: hosts on the instance that is killed (0: skip)

	lanMTUs     []int // lan: link MTUs to run (default 1500 and 9000)
	lanCopyOnly bool  // lan: only the viewer cp (direct lane) and scp rows
}

// row is one line of the results table.
type row struct {
	Name       string  `json:"name"`
	Streams    int     `json:"streams"`
	MBps       float64 `json:"mb_per_s"`
	CPUPerGiB  float64 `json:"cpu_s_per_gib,omitempty"`
	VsTCP      float64 `json:"ratio_vs_raw_tcp"`
	VsSSH      float64 `json:"ratio_vs_ssh"`
	VsPion     float64 `json:"ratio_vs_bare_pion,omitempty"`
	Note       string  `json:"note,omitempty"`
	FirstByteS float64 `json:"first_byte_s,omitempty"`
	// Runs are the MB/s of each run, in order.
	Runs []float64 `json:"runs_mb_per_s,omitempty"`
}

// keyRow is one line of the key-press latency table.
type keyRow struct {
	Path     string  `json:"path"`
	Load     string  `json:"load"`
	Median   float64 `json:"median_ms"`
	P99      float64 `json:"p99_ms"`
	BulkMBps float64 `json:"forward_mb_per_s,omitempty"`
	// OverIdle is the p99 under load less the same path's idle p99, in ms.
	OverIdle float64 `json:"p99_over_idle_ms,omitempty"`
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "deskport-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	res := &results{Started: time.Now()}
	if cfg.only["forward"] {
		if res.Forward, res.FirstByteMs, err = runForward(ctx, cfg, work); err != nil {
			return err
		}
	}
	if cfg.only["lan"] {
		if why := lanUnavailable(); why != "" {
			fmt.Fprintln(os.Stderr, why)
			res.Skipped = append(res.Skipped, why)
		} else if res.LAN, err = runLAN(ctx, cfg, work); err != nil {
			return fmt.Errorf("lan: %w", err)
		}
	}
	if cfg.only["natlab"] {
		if err := netlab.Available(); err != nil {
			why := "natlab: skipped: " + err.Error()
			fmt.Fprintln(os.Stderr, why)
			res.Skipped = append(res.Skipped, why)
		} else if res.NATLab, err = runNATLab(ctx, cfg); err != nil {
			return fmt.Errorf("natlab: %w", err)
		}
	}
	if cfg.only["keys"] {
		var skipped []string
		res.Keys, skipped, err = runKeys(ctx)
		for _, why := range skipped {
			fmt.Fprintln(os.Stderr, why)
		}
		res.Skipped = append(res.Skipped, skipped...)
		if err != nil {
			return err
		}
	}
	if cfg.only["longpath"] {
		if res.LongPath, err = runLongPath(ctx, cfg); err != nil {
			return fmt.Errorf("longpath: %w", err)
		}
	}
	if cfg.only["streamopen"] {
		fmt.Fprintln(os.Stderr, "stream open: new connection at the -L listener to the target's first byte")
		if res.StreamOpen, err = runStreamOpen(ctx, cfg); err != nil {
			return fmt.Errorf("streamopen: %w", err)
		}
	}
	if cfg.only["rendezvous"] {
		rv, err := runRendezvous(ctx, cfg)
		if err != nil {
			return fmt.Errorf("rendezvous: %w", err)
		}
		res.Rendezvous = rv
		res.Skipped = append(res.Skipped, rv.Skipped...)
	}
	if err := runDesktop(ctx, cfg, work, res); err != nil {
		return err
	}
	if cfg.only["wayland"] {
		if why := waylandUnavailable(); why != "" {
			fmt.Fprintln(os.Stderr, why)
			res.Skipped = append(res.Skipped, why)
		} else if res.Wayland, err = runWayland(ctx, cfg, work); err != nil {
			return fmt.Errorf("wayland: %w", err)
		}
	}
	res.Seconds = time.Since(res.Started).Seconds()
	return report(cfg, res)
}

// runForward measures forward throughput against raw TCP and ssh -L, and the time to the first
// forwarded byte.
func runForward(ctx context.Context, cfg config, work string) ([]row, float64, error) {
	src, err := newSource()
	if err != nil {
		return nil, 0, err
	}
	defer src.Close()
	total := cfg.mib << 20

	var rows []row
	// once pulls total bytes through addr and returns MB/s and the CPU seconds per GiB of pids.
	once := func(addr string, streams int, pids func() []int) (mbps, cpu float64, err error) {
		before := cpuSeconds(pids())
		mbps, err = pull(ctx, addr, total, streams)
		return mbps, (cpuSeconds(pids()) - before) / (float64(total) / (1 << 30)), err
	}
	measure := func(name, addr string, streams int, pids func() []int, note string) error {
		var speeds, cpus []float64
		for i := 0; i < cfg.rounds; i++ {
			mbps, cpu, err := once(addr, streams, pids)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			speeds = append(speeds, mbps)
			cpus = append(cpus, cpu)
		}
		rows = append(rows, row{Name: name, Streams: streams, MBps: median(speeds), CPUPerGiB: median(cpus), Note: note, Runs: speeds})
		fmt.Fprintf(os.Stderr, "  %-28s %d stream(s): %8.1f MB/s\n", name, streams, median(speeds))
		return nil
	}
	none := func() []int { return nil }

	fmt.Fprintln(os.Stderr, "raw TCP loopback")
	for _, n := range []int{1, cfg.streams} {
		if err := measure("raw TCP loopback", src.Addr(), n, none, "baseline"); err != nil {
			return nil, 0, err
		}
	}

	fmt.Fprintln(os.Stderr, "ssh -L through a local sshd")
	for _, cipher := range []string{"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com"} {
		fwd, pids, stop, err := sshForward(ctx, work, src.Addr(), cipher)
		if err != nil {
			return nil, 0, fmt.Errorf("ssh -L: %w", err)
		}
		for _, n := range []int{1, cfg.streams} {
			if err := measure("ssh -L ("+strings.Split(cipher, "@")[0]+")", fwd, n, pids, "baseline"); err != nil {
				stop()
				return nil, 0, err
			}
		}
		stop()
	}

	// deskport's single stream and the bare pion channel alternate, run by run, so that both see
	// the same moments of a shared, noisy machine (measured apart, the baseline alone swung
	// 53–103 MB/s between invocations); the baseline gets at least five runs.
	fmt.Fprintln(os.Stderr, "deskport viewer forward -L, alternating with a bare pion data channel, default settings (in process)")
	dp, err := startDeskport(ctx, cfg.bin, work, src.Addr())
	if err != nil {
		return nil, 0, fmt.Errorf("deskport: %w", err)
	}
	defer dp.stop()
	var pionSpeeds, dpSpeeds, dpCPUs []float64
	for i := 0; i < max(cfg.rounds, 5); i++ {
		mbps, err := bareDataChannel(ctx, min(total, 256<<20))
		if err != nil {
			return nil, 0, fmt.Errorf("bare pion data channel: %w", err)
		}
		pionSpeeds = append(pionSpeeds, mbps)
		if i >= cfg.rounds {
			continue
		}
		mbps, cpu, err := once(dp.forward, 1, dp.pids)
		if err != nil {
			return nil, 0, fmt.Errorf("deskport -L: %w", err)
		}
		dpSpeeds = append(dpSpeeds, mbps)
		dpCPUs = append(dpCPUs, cpu)
	}
	rows = append(rows, row{Name: barePion, Streams: 1, MBps: median(pionSpeeds), Note: "baseline", Runs: pionSpeeds})
	fmt.Fprintf(os.Stderr, "  %-28s %d stream(s): %8.1f MB/s (runs %s)\n", "bare pion data channel", 1, median(pionSpeeds), runList(pionSpeeds))
	rows = append(rows, row{Name: "deskport -L", Streams: 1, MBps: median(dpSpeeds), CPUPerGiB: median(dpCPUs), Runs: dpSpeeds})
	fmt.Fprintf(os.Stderr, "  %-28s %d stream(s): %8.1f MB/s (runs %s)\n", "deskport -L", 1, median(dpSpeeds), runList(dpSpeeds))
	if err := measure("deskport -L", dp.forward, cfg.streams, dp.pids, ""); err != nil {
		return nil, 0, err
	}
	dp.stop()
	var firsts []float64
	for i := 0; i < cfg.rounds; i++ {
		d, err := firstByte(ctx, cfg.bin, work, src.Addr())
		if err != nil {
			return nil, 0, fmt.Errorf("first byte: %w", err)
		}
		firsts = append(firsts, d.Seconds())
	}
	base := func(prefix string, streams int) float64 {
		for _, r := range rows {
			if strings.HasPrefix(r.Name, prefix) && r.Streams == streams {
				return r.MBps
			}
		}
		return 0
	}
	for i := range rows {
		r := &rows[i]
		if t := base("raw TCP", r.Streams); t > 0 {
			r.VsTCP = r.MBps / t
		}
		if s := base("ssh -L (chacha20", r.Streams); s > 0 {
			r.VsSSH = r.MBps / s
		}
		if p := base("bare pion", 1); p > 0 {
			r.VsPion = r.MBps / p
		}
	}
	return rows, median(firsts) * 1000, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// source is a TCP server that sends the number of bytes a client asks for (8-byte decimal
// header) and closes: the client measures how fast they arrive.
type source struct {
	ln  net.Listener
	wg  sync.WaitGroup
	buf []byte
}

func newSource() (*source, error) { return newSourceOn("127.0.0.1:0") }

func newSourceOn(addr string) (*source, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &source{ln: ln, buf: make([]byte, 256<<10)}
	for i := range s.buf {
		s.buf[i] = byte(i * 7)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				hdr := make([]byte, 16)
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				n, err := strconv.ParseInt(strings.TrimSpace(string(hdr)), 10, 64)
				if err != nil {
					return
				}
				for n > 0 {
					k := min(n, int64(len(s.buf)))
					if _, err := c.Write(s.buf[:k]); err != nil {
						return
					}
					n -= k
				}
			}()
		}
	}()
	return s, nil
}

func (s *source) Addr() string { return s.ln.Addr().String() }
func (s *source) Close()       { s.ln.Close(); s.wg.Wait() }

// pull moves total bytes from the source through addr over the given number of parallel
// connections and returns MB/s (10^6 bytes per second).
func pull(ctx context.Context, addr string, total int64, streams int) (float64, error) {
	per := total / int64(streams)
	start := time.Now()
	errs := make(chan error, streams)
	for i := 0; i < streams; i++ {
		go func() {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			if _, err := fmt.Fprintf(c, "%-16d", per); err != nil {
				errs <- err
				return
			}
			n, err := io.Copy(io.Discard, c)
			if err == nil && n != per {
				err = fmt.Errorf("got %d bytes, want %d", n, per)
			}
			errs <- err
		}()
	}
	for i := 0; i < streams; i++ {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(per*int64(streams)) / time.Since(start).Seconds() / 1e6, nil
}

// cpuSeconds sums user+system time of the processes and all their descendants, from /proc,
// including descendants that have exited and been waited for (cutime, cstime): sshd's
// per-connection child, which ends with an scp, is counted like a host that lives on.
func cpuSeconds(pids []int) float64 {
	type stat struct {
		ppid int
		cpu  float64
	}
	all := map[int]stat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(fields) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		var cpu float64
		for _, f := range fields[11:15] { // utime, stime, cutime, cstime
			v, _ := strconv.ParseFloat(f, 64)
			cpu += v
		}
		all[pid] = stat{ppid: ppid, cpu: cpu / 100} // USER_HZ is 100 on Linux
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	var total float64
	for pid, st := range all {
		for p, hops := pid, 0; p > 1 && hops < 32; p, hops = all[p].ppid, hops+1 {
			if want[p] {
				total += st.cpu
				break
			}
		}
	}
	return total
}

// proc is a started process whose output is scanned for a line.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	exited chan struct{} // closed once the process has been waited for
}

func startProc(ctx context.Context, name string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DESKPORT_RENDEZVOUS=")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) waitFor(re string, timeout time.Duration) ([]string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case l := <-p.lines:
			seen = append(seen, l)
			if m := rx.FindStringSubmatch(l); m != nil {
				return m, nil
			}
		case <-deadline:
			return nil, fmt.Errorf("%s printed no %q in %v:\n%s", p.cmd.Path, re, timeout, strings.Join(seen, "\n"))
		}
	}
}

func (p *proc) stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		// startProc's goroutine is the one Wait; a second one would return at once.
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			select { // a child still holding its output can keep Wait from returning
			case <-p.exited:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

type deskport struct {
	procs   []*proc
	forward string
}

func (d *deskport) pids() []int {
	var out []int
	for _, p := range d.procs[1:] { // host and viewer, not the rendezvous
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

func (d *deskport) stop() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		d.procs[i].stop()
	}
	d.procs = nil
}

// startRendezvousAndHost starts a rendezvous and a host allowing target, with a trusted viewer key.
func startRendezvousAndHost(ctx context.Context, bin, work, target string) (*deskport, string, string, string, error) {
	d := &deskport{}
	rv, err := startProc(ctx, filepath.Join(bin, "rendezvous"), "--listen", "127.0.0.1:0", "--stun-listen", "off")
	if err != nil {
		return nil, "", "", "", err
	}
	d.procs = append(d.procs, rv)
	m, err := rv.waitFor(`rendezvous listening.*addr=(\S+)`, 20*time.Second)
	if err != nil {
		d.stop()
		return nil, "", "", "", err
	}
	url := "http://" + m[1]
	viewerKey := filepath.Join(work, "viewer.key")
	line, err := exec.Command(filepath.Join(bin, "viewer"), "id", "--key", viewerKey).Output()
	if err != nil {
		d.stop()
		return nil, "", "", "", fmt.Errorf("viewer id: %w", err)
	}
	authorized := filepath.Join(work, "authorized_viewers")
	os.WriteFile(authorized, line, 0o600)
	host, err := startProc(ctx, filepath.Join(bin, "host"), "--rendezvous", url, "--key", filepath.Join(work, "host.key"),
		"--authorized-viewers", authorized, "--allow", target, "--ice-loopback-only", "--max-streams", "256")
	if err != nil {
		d.stop()
		return nil, "", "", "", err
	}
	d.procs = append(d.procs, host)
	m, err = host.waitFor(`host ID: (\S+)`, 20*time.Second)
	if err != nil {
		d.stop()
		return nil, "", "", "", err
	}
	id := m[1]
	if _, err := host.waitFor(`registered`, 20*time.Second); err != nil {
		d.stop()
		return nil, "", "", "", err
	}
	return d, url, id, viewerKey, nil
}

func startDeskport(ctx context.Context, bin, work, target string) (*deskport, error) {
	d, url, id, key, err := startRendezvousAndHost(ctx, bin, work, target)
	if err != nil {
		return nil, err
	}
	v, err := startProc(ctx, filepath.Join(bin, "viewer"), "forward", id, "--rendezvous", url, "--key", key,
		"--ice-loopback-only", "-L", "127.0.0.1:0:"+target)
	if err != nil {
		d.stop()
		return nil, err
	}
	d.procs = append(d.procs, v)
	m, err := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	if err != nil {
		d.stop()
		return nil, err
	}
	d.forward = m[1]
	return d, nil
}

// firstByte times `viewer forward` from its start to the first byte read through its -L port.
func firstByte(ctx context.Context, bin, work, target string) (time.Duration, error) {
	dir, err := os.MkdirTemp(work, "fb")
	if err != nil {
		return 0, err
	}
	d, url, id, key, err := startRendezvousAndHost(ctx, bin, dir, target)
	if err != nil {
		return 0, err
	}
	defer d.stop()
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	fwd := fmt.Sprintf("127.0.0.1:%d", port)
	start := time.Now()
	v, err := startProc(ctx, filepath.Join(bin, "viewer"), "forward", id, "--rendezvous", url, "--key", key,
		"--ice-loopback-only", "-L", fwd+":"+target)
	if err != nil {
		return 0, err
	}
	d.procs = append(d.procs, v)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fwd)
		if err != nil {
			time.Sleep(time.Millisecond)
			continue
		}
		fmt.Fprintf(c, "%-16d", 1)
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		c.Close()
		if err != nil {
			return 0, fmt.Errorf("reading the first byte: %w", err)
		}
		return time.Since(start), nil
	}
	return 0, errors.New("the -L port never accepted")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// runList prints run figures for the progress lines.
func runList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}
