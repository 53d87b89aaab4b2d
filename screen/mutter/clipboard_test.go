//go:build linux && cgo

package mutter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
)

// changed waits for the clipboard view to report a new owner (20 s is a hang guard).
func changed(t *testing.T, c *mutter.Clipboard) {
	t.Helper()
	select {
	case <-c.Changed():
	case <-time.After(20 * time.Second):
		t.Fatal("no clipboard change reported")
	}
}

func read(t *testing.T, c *mutter.Clipboard, limit int) string {
	t.Helper()
	text, ok, tooLarge, err := c.Read(context.Background(), limit)
	if err != nil || !ok || tooLarge {
		t.Fatalf("Read: ok %v, too large %v, err %v", ok, tooLarge, err)
	}
	return string(text)
}

// TestClipboard: text set through the session's clipboard reaches a Wayland client that
// pastes it; text a Wayland client copies is reported as a change and read back, large texts
// included; and the session keeps serving its text after the view closes, to a client that
// starts later.
func TestClipboard(t *testing.T) {
	h := startHeadless(t)
	bin, err := wlpattern.BuildClip(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland clipboard test client: %v", err)
	}
	s := openSession(t, h, false)
	ctx := context.Background()
	c, err := s.Clipboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok, _, err := c.Read(ctx, 100); ok || err != nil {
		t.Fatalf("an empty clipboard read as ok %v, err %v", ok, err)
	}
	wl := wlpattern.StartClip(t, bin, h)

	// The viewer's side sets; the Wayland client pastes.
	text := "héllo wörld 🎉\nsecond line\t"
	if err := c.Write(ctx, []byte(text)); err != nil {
		t.Fatal(err)
	}
	if got := wl.Selection(); got != text {
		t.Fatalf("the Wayland client pasted %q, want %q", got, text)
	}
	if got := read(t, c, 1000); got != text {
		t.Fatalf("the session's own text reads %q", got)
	}

	// The Wayland client copies; the session sees the change and reads it.
	wl.Copy("copied in Wayland")
	changed(t, c)
	if got := read(t, c, 1000); got != "copied in Wayland" {
		t.Fatalf("read %q", got)
	}

	// Large texts both ways, and the limit.
	big := strings.Repeat("large text ", 30000) // 330 kB, more than a pipe holds
	wl.Copy(big)
	changed(t, c)
	if got := read(t, c, 1<<20); got != big {
		t.Fatalf("read %d bytes of %d", len(got), len(big))
	}
	wl.Expect("sent text/plain;charset=utf-8 330000") // the client served the session's read
	if _, ok, tooLarge, err := c.Read(ctx, 1000); !ok || !tooLarge || err != nil {
		t.Fatalf("a text over the limit: ok %v, too large %v, err %v", ok, tooLarge, err)
	}
	big2 := strings.Repeat("éß", 100000)
	if err := c.Write(ctx, []byte(big2)); err != nil {
		t.Fatal(err)
	}
	wl.Expect("cancelled") // the session took the clipboard from the client
	if got := wl.Selection(); got != big2 {
		t.Fatalf("the Wayland client pasted %d bytes of %d", len(got), len(big2))
	}

	// The text outlives the view: a client started later pastes it when it gets the focus.
	if err := c.Write(ctx, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := wl.Selection(); got != "still here" {
		t.Fatalf("pasted %q", got)
	}
	c.Close()
	wl2 := wlpattern.StartClip(t, bin, h)
	if got := wl2.Selection(); got != "still here" {
		t.Fatalf("a later client pasted %q", got)
	}
}

// TestClipboardInitial: what a Wayland client copied before the session's clipboard was
// enabled reads back at once, and is not reported as a change (a viewer sees only what is
// copied while it watches).
func TestClipboardInitial(t *testing.T) {
	h := startHeadless(t)
	bin, err := wlpattern.BuildClip(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland clipboard test client: %v", err)
	}
	s := openSession(t, h, false)
	wl := wlpattern.StartClip(t, bin, h)
	wl.Copy("copied before")
	ctx := context.Background()
	c, err := s.Clipboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Changed():
		t.Fatal("the clipboard as it was before the view opened was reported as a change")
	default:
	}
	if got := read(t, c, 100); got != "copied before" {
		t.Fatalf("read %q", got)
	}
	wl.Copy("copied after")
	changed(t, c)
	if got := read(t, c, 100); got != "copied after" {
		t.Fatalf("read %q", got)
	}
}
