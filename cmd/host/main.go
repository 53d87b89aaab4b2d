// Command host is the deskport host; see `host --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskport/deskport/host"
	"github.com/deskport/deskport/internal/gctune"
	"github.com/deskport/deskport/internal/svcinstall"
	"github.com/deskport/deskport/internal/termtext"
)

func main() {
	gctune.Apply()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, stopService := svcinstall.Context(ctx, "host") // the Windows service manager's stop
	err := host.NewCommand().ExecuteContext(ctx)
	stop()
	stopService()
	if err != nil {
		// An error may quote what a peer or the rendezvous sent: print it escaped.
		fmt.Fprintln(os.Stderr, "host:", termtext.EscapeText(err.Error()))
		os.Exit(1)
	}
}
