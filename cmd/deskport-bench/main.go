// Command deskport-bench measures deskport against the baselines people already have, in one
// run on one machine: port forwarding against raw TCP and `ssh -L`, screen capture against
// XGetImage, the codecs against the frame rate and bitrate they are asked for, the real host's
// CPU while it streams a changing and a static screen, the browser's time to the first frame and
// glass-to-glass latency. It prints one table a section (figures and ratios to the baselines of
// the same run, because shared machines are noisy) and saves them under bench/results/.
// docs/bench.md explains every figure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskport/deskport/internal/gctune"
)

func main() {
	// The sections that run sessions in this process (keys, longpath and their bare pion
	// baselines) collect garbage as the host and viewer binaries do: with Go's default GOGC
	// a deskport forward on the vnet 0 ms path moved 37–52 MB/s, rising run by run as the heap
	// grew, against 61–78 MB/s with the binaries' setting (docs/bench.md).
	gctune.Apply()
	var cfg config
	var only, sizes, codecs string
	flag.StringVar(&cfg.bin, "bin", "bin", "directory with the host, viewer and rendezvous binaries")
	flag.StringVar(&cfg.out, "out", "", "directory for latest.md and latest.json (default "+fullRunOut+" for a full run, "+partialRunOut+" for -only: a part never replaces the committed full table)")
	flag.StringVar(&only, "only", "all", "sections to run, comma-separated: "+strings.Join(sections, ", ")+"; desktop (= "+strings.Join(desktopSections, ",")+") or all")
	flag.Int64Var(&cfg.mib, "mib", 512, "forward: MiB moved per single-stream run")
	flag.IntVar(&cfg.streams, "streams", 8, "forward: streams in the parallel run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "forward, firstframe: runs per figure (the median is reported)")
	flag.Int64Var(&cfg.lpMiB, "longpath-mib", 64, "longpath: MiB per run")
	flag.IntVar(&cfg.lpRounds, "longpath-rounds", 5, "longpath: runs per path and stack (the median is reported; issue 15 asks for five)")
	flag.DurationVar(&cfg.lpLimit, "longpath-limit", 20*time.Second, "longpath: time limit per run (what moved by then is reported)")
	var lpRTTs string
	flag.StringVar(&lpRTTs, "longpath-rtts", "", "longpath: comma-separated RTTs in ms of loss-free paths to run instead of the standard four (e.g. 0,150)")
	flag.BoolVar(&cfg.lpNoPion, "longpath-no-pion", false, "longpath: skip the bare pion data channel")
	flag.DurationVar(&cfg.lpTrace, "longpath-trace", 0, "longpath: print the host's SCTP state this often in deskport runs, and the packets dropped on the way (costs CPU; 0: off)")
	flag.StringVar(&keysPaths, "keys-paths", "", "keys: run only the paths whose name contains one of these comma-separated strings (e.g. \"150 ms\"; default: every path)")
	flag.IntVar(&cfg.opens, "opens", 200, "streamopen: opens per figure")
	flag.IntVar(&cfg.wlRounds, "wayland-rounds", 2, "wayland: rounds, each the X11 path then the Mutter path (at the largest -sizes entry)")
	flag.StringVar(&sizes, "sizes", "1280x720,1920x1080", "desktop: Xvfb screen sizes")
	flag.StringVar(&codecs, "codecs", "vp8,h264", "desktop: codecs")
	flag.IntVar(&cfg.frames, "frames", 150, "capture: frames per capture and encode figure")
	flag.DurationVar(&cfg.seconds, "seconds", 0, "stream, latency: measuring time per figure (default 8s)")
	flag.StringVar(&cfg.nodeDir, "node-dir", "internal/e2e/browser", "firstframe, latency: directory whose node_modules has playwright-core (npm ci runs there if missing)")
	flag.StringVar(&cfg.chromium, "chromium", "/usr/bin/chromium", "firstframe, latency: the Chromium binary")
	flag.StringVar(&cfg.xpattern, "xpattern", "", "desktop: a built xpattern binary (default: go build ./internal/xpattern into a temp dir)")
	flag.IntVar(&cfg.rvHosts, "rv-hosts", 10000, "rendezvous: idle hosts on one instance")
	flag.Float64Var(&cfg.rvRate, "rv-rate", 100, "rendezvous: new viewer sessions a second")
	flag.DurationVar(&cfg.rvPeriod, "rv-seconds", 10*time.Second, "rendezvous: duration of each latency figure")
	flag.DurationVar(&cfg.rvIdle, "rv-idle", 20*time.Second, "rendezvous: idle window over which the CPU of keeping the hosts is measured (after 5 s settling)")
	flag.IntVar(&cfg.rvFailHosts, "rv-fail-hosts", 1000, "rendezvous: hosts on the instance that is killed (0: skip the two-instance cases)")
	lanMTUs := flag.String("lan-mtus", "1500,9000", "lan: link MTUs to run, comma-separated")
	flag.BoolVar(&cfg.lanCopyOnly, "lan-copy-only", false, "lan: run only the viewer cp (direct TCP lane) and scp rows")
	relayAddr := flag.String("serve-wsrelay", "", "internal: serve the baseline WebSocket relay on this address until interrupted (the rendezvous section runs it)")
	serve := flag.String("serve-source", "", "internal: serve the byte source on this address until interrupted (the lan section runs it in a namespace)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	traceFile := flag.String("trace", "", "write an execution trace of the whole run to this file (for go tool trace; large: use with -only longpath and a few runs)")
	flag.Parse()
	cfg.out = resultsDir(cfg.out, only)
	if *traceFile != "" {
		stopTrace, err := startTrace(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deskport-bench:", err)
			os.Exit(1)
		}
		defer stopTrace()
	}
	if *cpuprofile != "" {
		stopProfile, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deskport-bench:", err)
			os.Exit(1)
		}
		defer stopProfile()
	}
	if *serve != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serveSource(ctx, *serve)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "deskport-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *relayAddr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serveRelay(ctx, *relayAddr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "deskport-bench:", err)
			os.Exit(1)
		}
		return
	}
	err := parseFlags(&cfg, only, sizes, codecs)
	for _, f := range strings.FieldsFunc(lpRTTs, func(r rune) bool { return r == ',' }) {
		ms, perr := strconv.Atoi(strings.TrimSpace(f))
		if perr != nil || ms < 0 {
			err = errors.Join(err, fmt.Errorf("-longpath-rtts: %q is not a number of milliseconds", f))
			continue
		}
		cfg.lpRTTs = append(cfg.lpRTTs, time.Duration(ms)*time.Millisecond)
	}
	for _, f := range strings.FieldsFunc(*lanMTUs, func(r rune) bool { return r == ',' }) {
		mtu, perr := strconv.Atoi(strings.TrimSpace(f))
		if perr != nil || mtu < 1280 || mtu > 65535 {
			err = errors.Join(err, fmt.Errorf("-lan-mtus: %q is not a link MTU", f))
			continue
		}
		cfg.lanMTUs = append(cfg.lanMTUs, mtu)
	}
	if err == nil {
		err = checkBinaries(cfg)
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, cfg)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deskport-bench:", err)
		os.Exit(1)
	}
}

// Where a run's latest.md and latest.json go unless -out says: bench/results holds the table of
// the last full run, which is committed and which README and docs/bench.md quote; a run of some
// sections writes beside it, in a directory git ignores, so trying one section never replaces
// the full table with a one-section one.
const (
	fullRunOut    = "bench/results"
	partialRunOut = "bench/results/partial"
)

// resultsDir is -out, or its default for the sections asked for.
func resultsDir(out, only string) string {
	if out != "" {
		return out
	}
	if strings.TrimSpace(only) == "all" {
		return fullRunOut
	}
	return partialRunOut
}
