package viewer

import (
	"context"
	"fmt"
	"io"

	"github.com/deskport/deskport/clipboard"
	"github.com/deskport/deskport/internal/termtext"
	"github.com/deskport/deskport/mux"
)

// Clipboard sets the host's clipboard to text (when set is true), then, with watch, prints the
// host's clipboard every time it changes until ctx is done.
func Clipboard(ctx context.Context, cfg Config, text string, set, watch bool, out io.Writer) error {
	conn, _, err := connectFor(ctx, cfg, "clipboard")
	if err != nil {
		return err
	}
	defer conn.Close()
	cl, err := clipboard.Dial(ctx, mux.Opener(conn.Interactive))
	if err != nil {
		return err
	}
	defer cl.Close()
	if set {
		if err := cl.Set(ctx, text); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Out, "set the host's clipboard (%d bytes)\n", len(text))
	}
	if !watch {
		return nil
	}
	fmt.Fprintln(cfg.Out, "printing the host's clipboard whenever it changes; Ctrl-C to stop")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Done():
			return ended(conn)
		case t, ok := <-cl.Updates():
			if !ok {
				return cl.Err()
			}
			fmt.Fprintln(out, termtext.EscapeText(t))
		}
	}
}
