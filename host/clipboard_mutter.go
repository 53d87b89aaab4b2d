package host

import (
	"context"

	"github.com/deskport/deskport/clipboard"
)

// gnomeClipboard serves the clipboard on the mutter backend: the GNOME clipboard through the
// session's own remote-desktop session (shared with its screen and input), with the same limit
// as X11's. Mutter reports every new owner, so nothing polls.
func (it *interactive) gnomeClipboard() *clipboard.Server {
	return &clipboard.Server{Logger: it.log.With("component", "clipboard"),
		Open: func(ctx context.Context) (clipboard.Board, error) {
			s, err := it.gnome.get(ctx, it.a.desk)
			if err != nil {
				return nil, err
			}
			return s.Clipboard(ctx)
		}}
}
