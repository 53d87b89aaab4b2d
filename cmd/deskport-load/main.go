// Command deskport-load loads a deskport rendezvous with simulated hosts and viewer sessions;
// see `deskport-load --help` and docs/bench.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskport/deskport/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := loadgen.NewCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deskport-load:", err)
		os.Exit(1)
	}
}
