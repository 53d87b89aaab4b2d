//go:build linux

package clipboard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
	"go.uber.org/goleak"
)

// TestMutterBoard: the server on a GNOME session's clipboard (Mutter's remote-desktop session,
// Server.Open): a viewer's text reaches a Wayland client that pastes it, a Wayland client's
// copy reaches the viewer without polling and without an echo of the viewer's own text, and
// the limit holds both ways.
func TestMutterBoard(t *testing.T) {
	// Registered first, so it runs last: after the session, the GNOME and the tunnel closed.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	bin, err := wlpattern.BuildClip(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland clipboard test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wl := wlpattern.StartClip(t, bin, h)
	opened := make(chan *mutter.Clipboard, 1)
	srv := &Server{MaxBytes: 100_000, Open: func(ctx context.Context) (Board, error) {
		c, err := s.Clipboard(ctx)
		if err == nil {
			opened <- c
		}
		return c, err
	}}
	c := dialServer(t, srv)
	ctx := context.Background()
	next := func() string {
		t.Helper()
		select {
		case s, ok := <-c.Updates():
			if !ok {
				t.Fatalf("updates closed: %v", c.Err())
			}
			return s
		case <-time.After(20 * time.Second):
			t.Fatal("no clipboard update from the host")
			return ""
		}
	}

	text := "héllo wörld 🎉\nsecond line\t"
	t0 := time.Now()
	if err := c.Set(ctx, text); err != nil {
		t.Fatal(err)
	}
	if got := wl.Selection(); got != text {
		t.Fatalf("the Wayland client pasted %q, want %q", got, text)
	}
	toWayland := time.Since(t0)
	t0 = time.Now()
	wl.Copy("from Wayland")
	if got := next(); got != "from Wayland" {
		t.Fatalf("first update %q; want the Wayland copy, not an echo of the viewer's set", got)
	}
	t.Logf("viewer set to Wayland paste %v; Wayland copy to viewer update %v (with the client's own read-back)", toWayland, time.Since(t0))
	err = c.Set(ctx, strings.Repeat("x", 100_001))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("a set over the limit: %v", err)
	}
	wl.Copy(strings.Repeat("z", 100_001)) // over the limit: not sent
	wl.Copy(strings.Repeat("y", 100_000))
	if got := next(); got != strings.Repeat("y", 100_000) {
		t.Fatalf("update of %d bytes, want the 100000 y's (a text over the limit is not sent)", len(got))
	}
	// The stream's end closes the server's view; the session goes on.
	c.Close()
	mc := <-opened
	select {
	case <-mc.Changed(): // drained or not, a closed view gets no more
	default:
	}
	if err := mc.Write(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := wl.Selection(); got != "after" {
		t.Fatalf("pasted %q", got)
	}
}
