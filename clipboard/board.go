package clipboard

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Board is a host clipboard the Server keeps in step with a viewer's: X11's through xclip by
// default, or one a Server's Open gives (a GNOME session's, through Mutter's remote-desktop
// session).
type Board interface {
	// Read returns the clipboard's text, at most limit bytes; ok is false when nothing owns the
	// clipboard or its owner offers no text; tooLarge reports a text over the limit (not
	// returned).
	Read(ctx context.Context, limit int) (text []byte, ok, tooLarge bool, err error)
	// Write makes text the clipboard's content and returns once a paste gets it.
	Write(ctx context.Context, text []byte) error
	// Changed receives a value when the clipboard may have changed, and the Server reads it
	// then; a nil channel makes the Server read it every PollInterval instead.
	Changed() <-chan struct{}
}

// setSettle bounds how long a set waits for the new owner to serve the text.
const setSettle = 2 * time.Second

// xclipBoard is X11's CLIPBOARD (and, on a set, PRIMARY if asked) through xclip, polled.
type xclipBoard struct {
	x       *xclip
	primary bool
}

func (b *xclipBoard) Read(ctx context.Context, limit int) ([]byte, bool, bool, error) {
	return b.x.get(ctx, "clipboard", limit)
}

func (b *xclipBoard) Changed() <-chan struct{} { return nil }

// Write sets the selections and waits until the new owner (xclip's forked child) serves the
// text.
func (b *xclipBoard) Write(ctx context.Context, text []byte) error {
	sels := []string{"clipboard"}
	if b.primary {
		sels = append(sels, "primary")
	}
	for _, sel := range sels {
		if err := b.x.set(ctx, sel, text); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(setSettle)
	for {
		got, ok, _, err := b.x.get(ctx, "clipboard", len(text))
		if err == nil && ok && bytes.Equal(got, text) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("clipboard: the text was handed to xclip but the clipboard on %s does not show it", b.x.display)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
