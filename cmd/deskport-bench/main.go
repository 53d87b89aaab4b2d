// Command deskport-bench measures deskport's port forwarding against the baselines people already
// have, in one run on loopback: raw TCP, `ssh -L` through a local sshd, and `viewer forward -L`
// through the real binaries. It prints one table (figures and ratios to the baselines of the same
// run, because shared machines are noisy) and saves it under bench/results/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin", "directory with the host, viewer and rendezvous binaries")
	flag.StringVar(&cfg.out, "out", "bench/results", "directory for latest.md and latest.json")
	flag.Int64Var(&cfg.mib, "mib", 512, "MiB moved per single-stream run")
	flag.IntVar(&cfg.streams, "streams", 8, "streams in the parallel run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "runs per figure (the median is reported)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deskport-bench:", err)
		os.Exit(1)
	}
}
