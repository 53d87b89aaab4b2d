// Command rendezvous is the deskport signaling server; see `rendezvous --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskport/deskport/internal/rendezvouscmd"
	"github.com/deskport/deskport/internal/svcinstall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, stopService := svcinstall.Context(ctx, "rendezvous") // the Windows service manager's stop
	err := rendezvouscmd.NewCommand().ExecuteContext(ctx)
	stop()
	stopService()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rendezvous:", err)
		os.Exit(1)
	}
}
