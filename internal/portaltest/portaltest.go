//go:build linux && cgo

// Package portaltest answers GNOME's desktop-portal dialogs in tests, the way the person at
// the machine would: with a pointer of its own (a Mutter remote-desktop session on the same
// headless GNOME) and a view of the screen to see its moves land and the dialog change. It
// is for the tests of screen/portal and of the host's portal backend.
package portaltest

import (
	"context"
	"testing"
	"time"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/pipewire"
)

// GNOMEPortal is where xdg-desktop-portal-gnome lives on Debian.
const GNOMEPortal = "/usr/libexec/xdg-desktop-portal-gnome"

// Where GNOME's portal dialogs (xdg-desktop-portal-gnome 43 on a 1280x720 monitor, Adwaita)
// have their controls.
var (
	// The remote-desktop dialog: the monitor is selected already when there is one; the
	// "Allow remote interaction" switch is off.
	AllowRemoteSwitch = [2]int{830, 432}
	// The Share button of both dialogs.
	ShareButton = [2]int{853, 233}
	// The screen-cast dialog's one monitor, which must be picked.
	MonitorRow = [2]int{640, 386}
)

// Hands are the person's: a Mutter pointer and a view of the screen.
type Hands struct {
	t testing.TB
	x *mutter.Injector
	c *pipewire.Capturer
}

// NewHands opens a Mutter session of its own on the headless GNOME h; it lives until the test
// ends.
func NewHands(t testing.TB, h *mutter.Headless) *Hands {
	t.Helper()
	s, err := mutter.Open(context.Background(), mutter.Config{Bus: h.Bus(), RuntimeDir: h.RuntimeDir(), Cursor: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := s.Capturer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	x := s.Injector()
	t.Cleanup(func() { x.Close() })
	return &Hands{t: t, x: x, c: c}
}

func (h *Hands) inject(events ...input.Event) {
	for _, e := range events {
		if err := h.x.Inject(e); err != nil {
			h.t.Error(err)
		}
	}
}

// ClickAt clicks the left button at p. GTK takes a click only after a motion inside its
// window that followed the pointer's entering it (measured: a click right after the entering
// move was ignored), and a window takes the pointer focus at the compositor's next frame, so
// the pointer arrives one pixel off, then moves onto the spot, each time waiting for the
// frame that shows the move (the cursor is drawn into the frames).
func (h *Hands) ClickAt(p [2]int) {
	for _, q := range [][2]int{{p[0] - 1, p[1]}, p} {
		h.c.Capture()
		h.inject(input.Event{Type: input.TypePointerAbs, X: q[0], Y: q[1]})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.c.Wait(ctx)
		cancel()
		if err != nil {
			h.t.Errorf("no frame after the pointer moved to %v: %v", q, err)
		}
	}
	h.c.Capture()
	h.inject(input.ButtonEvent(input.ButtonLeft, true), input.ButtonEvent(input.ButtonLeft, false))
}

// SwitchOn turns on the remote-desktop dialog's "Allow remote interaction" switch and waits
// until the picture shows it on. GTK 4 makes a switch active only when its knob has slid over
// (the end of its animation): a Share before that shares without input. The track turns blue
// at once on a click, so a click is repeated only when the track stays grey (a click on a fresh
// dialog may go by); a second click while the knob slides would turn it off again.
func (h *Hands) SwitchOn() {
	trackBlue := func(f *screen.Frame) bool {
		r, _, b := at(f, AllowRemoteSwitch[0]-16, AllowRemoteSwitch[1])
		return b > r+60
	}
	knobRight := func(f *screen.Frame) bool {
		r, g, b := at(f, AllowRemoteSwitch[0]+11, AllowRemoteSwitch[1])
		return trackBlue(f) && r > 240 && g > 240 && b > 240
	}
	for range 5 {
		h.ClickAt(AllowRemoteSwitch)
		if h.waitFor(trackBlue, 10*time.Second) {
			if !h.waitFor(knobRight, 10*time.Second) {
				h.t.Error("the dialog's remote-interaction switch turned blue but its knob never reached the end")
			}
			return
		}
	}
	h.t.Error("the dialog's remote-interaction switch never showed on")
}

// ShareRemoteDesktop answers the remote-desktop dialog: remote interaction on, Share.
func (h *Hands) ShareRemoteDesktop() {
	h.SwitchOn()
	h.ClickAt(ShareButton)
}

// ShareScreenCast answers the screen-cast dialog: the monitor, Share ("Remember this
// selection" is ticked already). Share stays insensitive (pale) until a monitor is picked, so
// it clicks the monitor until the button shows sensitive.
func (h *Hands) ShareScreenCast() {
	for range 5 {
		h.ClickAt(MonitorRow)
		if h.waitFor(func(f *screen.Frame) bool {
			r, _, _ := at(f, ShareButton[0]-36, ShareButton[1]-11) // the button's blue, left of its label
			return r < 110
		}, 10*time.Second) {
			h.ClickAt(ShareButton)
			return
		}
	}
	h.t.Error("the dialog's Share button never became sensitive")
}

// waitFor captures until ok holds for the picture (d at most).
func (h *Hands) waitFor(ok func(*screen.Frame) bool, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if f, err := h.c.Capture(); err == nil && ok(f) {
			return true
		}
		if h.c.Wait(ctx) != nil {
			return false
		}
	}
}

func at(f *screen.Frame, x, y int) (r, g, b int) {
	o := y*f.Stride + x*4
	return int(f.Pix[o+2]), int(f.Pix[o+1]), int(f.Pix[o])
}
