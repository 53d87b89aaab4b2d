package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/deskport/deskport/internal/loadgen"
)

// rvIdleRow is what one server costs holding idle connections.
type rvIdleRow struct {
	Server    string  `json:"server"`
	Conns     int     `json:"conns"`
	ConnectS  float64 `json:"connect_s"`
	RSSEmpty  float64 `json:"rss_empty_mib"`
	RSS       float64 `json:"rss_mib"`
	PerConn   float64 `json:"bytes_per_conn"`
	CPUPct    float64 `json:"cpu_pct_of_core"`
	WindowS   float64 `json:"window_s"`
	VsBaseRSS float64 `json:"ratio_bytes_vs_baseline,omitempty"`
	VsBaseCPU float64 `json:"ratio_cpu_vs_baseline,omitempty"`
}

// rvLatRow is one offer → answer latency figure.
type rvLatRow struct {
	Path     string  `json:"path"`
	Rate     float64 `json:"sessions_per_s"`
	Sessions int     `json:"sessions"`
	Failed   int     `json:"failed"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	VsBase   float64 `json:"ratio_p99_vs_baseline,omitempty"`
	// CPUPct is the server processes' CPU during the run, as % of one core; CPUms the CPU a
	// session cost them net of the idle connections' keep-alive (when that was measured).
	CPUPct float64 `json:"server_cpu_pct_of_core"`
	CPUms  float64 `json:"server_cpu_ms_per_session,omitempty"`
	Errors string  `json:"errors,omitempty"`
}

// rvFailRow is the kill-one-instance figure.
type rvFailRow struct {
	Setup       string  `json:"setup"`
	Hosts       int     `json:"hosts"`
	Failed      int     `json:"failed"`
	RegP50Ms    float64 `json:"registered_p50_ms"`
	RegP99Ms    float64 `json:"registered_p99_ms"`
	ReachP50Ms  float64 `json:"reachable_p50_ms"`
	ReachP99Ms  float64 `json:"reachable_p99_ms"`
	ReachMaxMs  float64 `json:"reachable_max_ms"`
	Held        int     `json:"held_sessions"`
	HeldDropped int     `json:"held_sessions_dropped"`
	Errors      string  `json:"errors,omitempty"`
}

type rvResults struct {
	Idle     []rvIdleRow `json:"idle"`
	Latency  []rvLatRow  `json:"latency"`
	Failover []rvFailRow `json:"failover,omitempty"`
	Skipped  []string    `json:"-"`
}

// Source-address blocks (127.B.x.y) of the rendezvous section: every kind of connection has
// its own, so that no address comes near the rendezvous's per-address caps.
const (
	blockBaseIdle = 20 + iota
	blockBaseRelay
	blockHosts
	blockViewers
	blockPairHosts
	blockPairViewers
)

// rvSettle is the wait between the last connection and the idle window.
const rvSettle = 5 * time.Second

// vmRSS reads a process's resident set size in bytes from /proc.
func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// idleWindow waits out the window and returns the process's CPU over it as % of one core and
// its RSS at the end.
func idleWindow(ctx context.Context, pid int, window time.Duration) (cpuPct, rss float64, err error) {
	c0, t0 := cpuSeconds([]int{pid}), time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(window):
	}
	cpuPct = (cpuSeconds([]int{pid}) - c0) / time.Since(t0).Seconds() * 100
	rss, err = vmRSS(pid)
	return cpuPct, rss, err
}

// latRow runs the sessions of run and summarises them, with the CPU of the server processes
// pids over the run; idlePct (0: unknown) is their CPU with the idle connections alone.
func latRow(path string, rate float64, pids []int, idlePct float64, run func() []loadgen.Session) rvLatRow {
	c0, t0 := cpuSeconds(pids), time.Now()
	ss := run()
	el := time.Since(t0).Seconds()
	cpu := cpuSeconds(pids) - c0
	s := loadgen.Summarize(ss)
	r := rvLatRow{Path: path, Rate: rate, Sessions: s.Sessions, Failed: s.Failed, P50Ms: ms(s.P50), P99Ms: ms(s.P99), MaxMs: ms(s.Max), CPUPct: cpu / el * 100}
	if idlePct > 0 && s.Sessions > 0 {
		r.CPUms = max(0, cpu-idlePct/100*el) / float64(s.Sessions) * 1000
	}
	for msg, n := range s.Errors {
		r.Errors += fmt.Sprintf("%d× %s; ", n, msg)
	}
	fmt.Fprintf(os.Stderr, "  %-58s %d sessions at %.0f/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d failed; server CPU %.1f%% of a core, %.2f ms a session\n", path, r.Sessions, rate, r.P50Ms, r.P99Ms, r.MaxMs, r.Failed, r.CPUPct, r.CPUms)
	if r.Errors != "" {
		fmt.Fprintf(os.Stderr, "    errors: %s\n", r.Errors)
	}
	return r
}

// startRendezvousProc starts the real rendezvous binary on a loopback port with its defaults (an
// empty configuration file, so that a rendezvous.toml on the machine changes nothing); extra
// are more flags (--redis).
func startRendezvousProc(ctx context.Context, bin string, extra ...string) (*proc, string, error) {
	empty, err := os.CreateTemp("", "deskport-bench-rendezvous-*.toml")
	if err != nil {
		return nil, "", err
	}
	empty.Close()
	defer os.Remove(empty.Name()) // read at start-up, before "listening"
	args := append([]string{"--listen", "127.0.0.1:0", "--stun-listen", "off", "--config", empty.Name(), "--log-format", "text"}, extra...)
	p, err := startProc(ctx, filepath.Join(bin, "rendezvous"), args...)
	if err != nil {
		return nil, "", err
	}
	m, err := p.waitFor(`rendezvous listening.*addr=(\S+)`, 20*time.Second)
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "http://" + m[1], nil
}

// serveRelay runs the baseline WebSocket relay on addr until ctx ends (the rendezvous section
// runs it as a child process, as it runs the rendezvous).
func serveRelay(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	loadgen.RaiseFileLimit(1 << 16)
	r := &loadgen.Relay{}
	srv := &http.Server{Handler: r.Handler()}
	fmt.Printf("relay listening on %s\n", ln.Addr())
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runRendezvous measures the rendezvous with the load generator: cfg.rvHosts idle hosts on
// one instance (RSS, CPU) and offer → answer latency at cfg.rvRate new sessions a second,
// against a raw WebSocket relay in the same run; then two instances, one killed under
// cfg.rvFailHosts hosts.
func runRendezvous(ctx context.Context, cfg config) (*rvResults, error) {
	fds, err := loadgen.RaiseFileLimit(uint64(cfg.rvHosts) + uint64(cfg.rvFailHosts) + 8192)
	if err != nil {
		return nil, fmt.Errorf("raise the file descriptor limit: %w", err)
	}
	if need := uint64(cfg.rvHosts) + 1024; fds < need {
		return nil, fmt.Errorf("the file descriptor limit is %d, %d hosts need %d; raise it (ulimit -n) or give a smaller -rv-hosts", fds, cfg.rvHosts, need)
	}
	// The generator holds as many connections as the server it measures; collecting its garbage
	// less often keeps its pauses out of the servers' figures (the machine has the memory).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	res := &rvResults{}
	n := cfg.rvHosts
	sessions := int(cfg.rvRate * cfg.rvPeriod.Seconds())
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// The baseline: a WebSocket server that does nothing but hold and relay.
	fmt.Fprintf(os.Stderr, "baseline: raw WebSocket relay (coder/websocket, no parsing, no limits), %d idle connections\n", n)
	relay, err := startProc(ctx, self, "-serve-wsrelay", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer relay.stop()
	m, err := relay.waitFor(`relay listening on (\S+)`, 20*time.Second)
	if err != nil {
		return nil, err
	}
	base := "http://" + m[1]
	var idle *loadgen.IdleConns
	row, err := idleFigures(ctx, cfg, relay.cmd.Process.Pid, "raw WebSocket relay (baseline)", n, func() error {
		idle, err = loadgen.DialIdle(ctx, base, n, loadgen.Spread{Block: blockBaseIdle, PerAddr: 16}.Addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	res.Idle = append(res.Idle, row)
	baseLat := latRow(fmt.Sprintf("raw WebSocket relay (baseline), %d idle connections held", n), cfg.rvRate, []int{relay.cmd.Process.Pid}, row.CPUPct, func() []loadgen.Session {
		return loadgen.RunRelay(ctx, base, loadgen.RunConfig{Rate: cfg.rvRate, Count: sessions}, loadgen.Spread{Block: blockBaseRelay, PerAddr: 1}.Addr)
	})
	res.Latency = append(res.Latency, baseLat)
	idle.Close()
	relay.stop()

	// One rendezvous, n hosts.
	fmt.Fprintf(os.Stderr, "rendezvous: %d idle hosts on one instance, then %.0f new sessions/s\n", n, cfg.rvRate)
	rv, url, err := startRendezvousProc(ctx, cfg.bin)
	if err != nil {
		return nil, err
	}
	defer rv.stop()
	var hosts *loadgen.Hosts
	defer func() {
		if hosts != nil {
			hosts.Close()
		}
	}()
	keys := loadgen.Keys(n, 1)
	row, err = idleFigures(ctx, cfg, rv.cmd.Process.Pid, "rendezvous", n, func() error {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		hosts, err = loadgen.StartHosts(hctx, loadgen.HostsConfig{URLs: []string{url}, Keys: keys, Source: loadgen.Spread{Block: blockHosts, PerAddr: 16}.Addr})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rendezvous: %w", err)
	}
	res.Idle = append(res.Idle, row)
	res.Idle[1].VsBaseRSS = res.Idle[1].PerConn / res.Idle[0].PerConn
	if res.Idle[0].CPUPct > 0 {
		res.Idle[1].VsBaseCPU = res.Idle[1].CPUPct / res.Idle[0].CPUPct
	}
	v := &loadgen.Viewers{URLs: []string{url}, Source: loadgen.Spread{Block: blockViewers, PerAddr: 1}.Addr}
	lat := latRow(fmt.Sprintf("rendezvous, one instance, %d hosts online", n), cfg.rvRate, []int{rv.cmd.Process.Pid}, row.CPUPct, func() []loadgen.Session {
		return v.Run(ctx, loadgen.RunConfig{Rate: cfg.rvRate, Count: sessions, Target: func(j int) (int, int, string) {
			i := j * 7919 % n
			return 0, i, hosts.ID(i)
		}})
	})
	lat.VsBase = lat.P99Ms / baseLat.P99Ms
	res.Latency = append(res.Latency, lat)
	hosts.Close()
	hosts = nil
	rv.stop()

	if cfg.rvFailHosts > 0 {
		if err := runPair(ctx, cfg, res, baseLat); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// idleFigures measures a server process before and after connect() opens n connections to it,
// over an idle window. The connections stay open.
func idleFigures(ctx context.Context, cfg config, pid int, name string, n int, connect func() error) (rvIdleRow, error) {
	r := rvIdleRow{Server: name, Conns: n, WindowS: cfg.rvIdle.Seconds()}
	empty, err := vmRSS(pid)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := connect(); err != nil {
		return r, err
	}
	r.ConnectS = time.Since(start).Seconds()
	// The connect burst leaves garbage to collect and memory to return to the system; that is
	// the cost of connecting, not of keeping.
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(rvSettle):
	}
	cpu, rss, err := idleWindow(ctx, pid, cfg.rvIdle)
	if err != nil {
		return r, err
	}
	r.RSSEmpty, r.RSS, r.CPUPct = empty/(1<<20), rss/(1<<20), cpu
	r.PerConn = (rss - empty) / float64(n)
	fmt.Fprintf(os.Stderr, "  %-32s %d connections in %.1f s; RSS %.0f MiB (%.0f empty), %.0f bytes each; CPU over %.0f s idle: %.2f%% of a core\n",
		name, n, r.ConnectS, r.RSS, r.RSSEmpty, r.PerConn, r.WindowS, r.CPUPct)
	return r, nil
}

// redisSupport says why the two-instance cases cannot use Redis, or "" if they can.
func redisSupport(bin string) string {
	out, _ := exec.Command(filepath.Join(bin, "rendezvous"), "--help").CombinedOutput()
	if !strings.Contains(string(out), "--redis") {
		return "this rendezvous has no --redis flag"
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "redis-server is not installed (make deps)"
	}
	return ""
}

// startRedis starts a throw-away redis-server on a free loopback port.
func startRedis(ctx context.Context) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, "", err
	}
	if _, err := p.waitFor(`Ready to accept connections`, 20*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, fmt.Sprintf("redis://127.0.0.1:%d", port), nil
}

// runPair runs two instances (sharing a Redis when the rendezvous has --redis): offer → answer
// within one instance and across the two, then kills instance A under cfg.rvFailHosts hosts
// and times each of them until a viewer on B reaches it, while sessions on B stay open.
func runPair(ctx context.Context, cfg config, res *rvResults, baseLat rvLatRow) error {
	why := redisSupport(cfg.bin)
	var extra []string
	var redisPid int
	setup := "two instances sharing Redis"
	if why != "" {
		setup = "two independent instances (no Redis: " + why + ")"
		res.skip("rendezvous across instances over Redis: " + why)
	} else {
		rd, url, err := startRedis(ctx)
		if err != nil {
			return fmt.Errorf("redis-server: %w", err)
		}
		defer rd.stop()
		redisPid = rd.cmd.Process.Pid
		extra = []string{"--redis", url}
	}
	fmt.Fprintf(os.Stderr, "%s: %d hosts on A, then A is killed\n", setup, cfg.rvFailHosts)
	a, urlA, err := startRendezvousProc(ctx, cfg.bin, extra...)
	if err != nil {
		return err
	}
	defer a.stop()
	b, urlB, err := startRendezvousProc(ctx, cfg.bin, extra...)
	if err != nil {
		return err
	}
	defer b.stop()
	urls := []string{urlA, urlB}
	const onB = 100 // hosts on B, each with a session held open across the kill
	n := cfg.rvFailHosts
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	hosts, err := loadgen.StartHosts(hctx, loadgen.HostsConfig{
		URLs: urls, Keys: loadgen.Keys(n+onB, 2), Source: loadgen.Spread{Block: blockPairHosts, PerAddr: 16}.Addr,
		First: pairFirst(n),
	})
	cancel()
	if err != nil {
		return err
	}
	defer hosts.Close()
	v := &loadgen.Viewers{URLs: urls, Source: loadgen.Spread{Block: blockPairViewers, PerAddr: 1}.Addr}
	sessions := int(cfg.rvRate * cfg.rvPeriod.Seconds())
	target := func(u int) func(j int) (int, int, string) {
		return func(j int) (int, int, string) { i := j * 7919 % n; return u, i, hosts.ID(i) }
	}
	if why == "" {
		pids := []int{a.cmd.Process.Pid, b.cmd.Process.Pid, redisPid}
		within := latRow("rendezvous, host and viewer on instance A (Redis on)", cfg.rvRate, pids, 0, func() []loadgen.Session {
			return v.Run(ctx, loadgen.RunConfig{Rate: cfg.rvRate, Count: sessions, Target: target(0)})
		})
		within.VsBase = within.P99Ms / baseLat.P99Ms
		across := latRow("rendezvous, host on A, viewer on B, over Redis", cfg.rvRate, pids, 0, func() []loadgen.Session {
			return v.Run(ctx, loadgen.RunConfig{Rate: cfg.rvRate, Count: sessions, Target: target(1)})
		})
		across.VsBase = across.P99Ms / baseLat.P99Ms
		res.Latency = append(res.Latency, within, across)
	}
	var held []*loadgen.Held
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for i := n; i < n+onB; i++ {
		h, err := v.Hold(ctx, 1, hosts.ID(i))
		if err != nil {
			return fmt.Errorf("a session on B: %w", err)
		}
		held = append(held, h)
	}
	which := make([]int, n)
	for i := range which {
		which[i] = i
	}
	t0 := time.Now()
	a.cmd.Process.Kill()
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	fs := loadgen.MeasureFailover(fctx, hosts, v, which, 1, t0)
	cancel()
	row := rvFailRow{Setup: setup, Hosts: n, Held: len(held)}
	var reg, reach []time.Duration
	errs := map[string]int{}
	for _, f := range fs {
		if f.Err != nil {
			row.Failed++
			errs[f.Err.Error()]++
			continue
		}
		reg, reach = append(reg, f.Registered), append(reach, f.Reachable)
	}
	for _, h := range held {
		if err := h.Check(ctx); err != nil {
			row.HeldDropped++
			errs["held session: "+err.Error()]++
		}
	}
	for msg, k := range errs {
		row.Errors += fmt.Sprintf("%d× %s; ", k, msg)
	}
	row.RegP50Ms, row.RegP99Ms = ms(loadgen.Percentile(reg, 50)), ms(loadgen.Percentile(reg, 99))
	row.ReachP50Ms, row.ReachP99Ms, row.ReachMaxMs = ms(loadgen.Percentile(reach, 50)), ms(loadgen.Percentile(reach, 99)), ms(loadgen.Percentile(reach, 100))
	fmt.Fprintf(os.Stderr, "  kill A: %d hosts registered on B p50 %.0f ms, p99 %.0f ms; reachable through B p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d failed; %d of %d sessions on B dropped\n",
		n, row.RegP50Ms, row.RegP99Ms, row.ReachP50Ms, row.ReachP99Ms, row.ReachMaxMs, row.Failed, row.HeldDropped, row.Held)
	if row.Errors != "" {
		fmt.Fprintf(os.Stderr, "    errors: %s\n", row.Errors)
	}
	res.Failover = append(res.Failover, row)
	return nil
}

// pairFirst is the URL where host i of runPair registers first: the n hosts that are timed
// after the kill on A (URL 0), every host after them (the ones holding sessions on B) on B.
// (i / n put the hosts from 2n on, when n is under onB, back on A, where the kill dropped
// their "sessions on B".)
func pairFirst(n int) func(i int) int {
	return func(i int) int {
		if i < n {
			return 0
		}
		return 1
	}
}

func (r *rvResults) skip(why string) { r.Skipped = append(r.Skipped, why) }

func rvReport(cfg config, r *rvResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Rendezvous under load\n\nThe real `rendezvous` binary, default limits, and internal/loadgen in the bench process: simulated hosts with real WebSockets and ed25519 registration proofs (a ping every 25 s each, as the agent), from source addresses spread over 127.0.0.0/8 so that no address nears the per-address cap. The baseline is a raw WebSocket relay (coder/websocket, a reader and a pinger per connection, no parsing, checks, limits or logs), run as a child process the same way. Idle CPU is user + system of the server process over %.0f s, from 5 s after the last host connected, as %% of one core (the keep-alive: the server pings each connection every 20 s, each host pings every 25 s); RSS is read at the end of that window; bytes per connection is (RSS − RSS empty) ÷ connections.\n\n", cfg.rvIdle.Seconds())
	b.WriteString("| server | idle connections | connect s | RSS MiB (empty) | bytes/connection | × baseline | CPU % of a core | × baseline |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Idle {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.0f (%.0f) | %.0f | %s | %.2f | %s |\n", x.Server, x.Conns, x.ConnectS, x.RSS, x.RSSEmpty, x.PerConn, ratio(x.VsBaseRSS, 2), x.CPUPct, ratio(x.VsBaseCPU, 1))
	}
	for _, x := range r.Idle {
		if x.Server == "rendezvous" {
			rss, cpu := "met", "met"
			if x.RSS > 500 {
				rss = "not met"
			}
			if x.CPUPct > 5 {
				cpu = "not met"
			}
			fmt.Fprintf(&b, "\nGoals at %d hosts: RSS under 500 MiB: %.0f MiB, %s; CPU under 5%% of a core: %.2f%%, %s.\n", x.Conns, x.RSS, rss, x.CPUPct, cpu)
		}
	}
	fmt.Fprintf(&b, "\nOffer → answer: a viewer opens a new WebSocket, connects to a host, sends an offer (2.6 KB of SDP text) and two candidates; the simulated host answers at once with an answer and a candidate; the time runs from sending the offer to receiving the answer (two relays and the host's turn-around). The baseline is the same exchange between two new connections paired by the raw relay.\n\n")
	b.WriteString("Server CPU is that of the server processes during the run (both instances and redis-server in the two-instance rows); CPU ms a session is net of the idle connections' keep-alive measured above. On a shared machine the tail follows the CPU a server needs: a process that wants more than its share of the cores queues.\n\n")
	b.WriteString("| path | sessions/s | sessions | failed | p50 ms | p99 ms | max ms | p99 × baseline | server CPU % of a core | CPU ms a session |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Latency {
		fmt.Fprintf(&b, "| %s | %.0f | %d | %d | %.2f | %.2f | %.2f | %s | %.1f | %s |\n", x.Path, x.Rate, x.Sessions, x.Failed, x.P50Ms, x.P99Ms, x.MaxMs, ratio(x.VsBase, 1), x.CPUPct, ratio(x.CPUms, 2))
	}
	if len(r.Failover) > 0 {
		b.WriteString("\nKill one of two instances: hosts registered on A (their URL list is A, B: on a lost connection a host tries the next URL after the agent's backoff, 0–0.5 s at first); A gets SIGKILL; per host, the time from the kill to its new registration on B, and to the first viewer session through B that it answers (a session refused as offline is retried every 20 ms). Meanwhile sessions between hosts and viewers on B stay open and must still relay an offer and answer afterwards. Goal: reachable within 5 s (p99), no session on B dropped.\n\n")
		b.WriteString("| setup | hosts on A | registered on B p50 / p99 ms | reachable via B p50 / p99 / max ms | failed | sessions on B dropped |\n|---|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Failover {
			fmt.Fprintf(&b, "| %s | %d | %.0f / %.0f | %.0f / %.0f / %.0f | %d | %d of %d |\n", x.Setup, x.Hosts, x.RegP50Ms, x.RegP99Ms, x.ReachP50Ms, x.ReachP99Ms, x.ReachMaxMs, x.Failed, x.HeldDropped, x.Held)
		}
	}
	b.WriteString("\n")
	return b.String()
}
