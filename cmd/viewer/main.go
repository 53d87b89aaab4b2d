// Command viewer is the deskport viewer; see `viewer --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskport/deskport/internal/gctune"
	"github.com/deskport/deskport/internal/termtext"
	"github.com/deskport/deskport/internal/version"
	"github.com/deskport/deskport/viewer"
)

func main() {
	gctune.Apply()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := viewer.NewCommand()
	version.AddFlag(cmd)
	err := cmd.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && interrupted {
		// Whatever failed failed because of the signal: "cannot reach the rendezvous ...
		// interrupt signal received; check --rendezvous" or "context canceled" sent the user
		// looking for a fault that was their own Ctrl-C.
		fmt.Fprintln(os.Stderr, "viewer: interrupted")
		os.Exit(1)
	}
	if err != nil {
		// An error may quote what a peer or the rendezvous sent: print it escaped.
		fmt.Fprintln(os.Stderr, "viewer:", termtext.EscapeText(err.Error()))
		os.Exit(1)
	}
}
