//go:build linux && cgo

package portal_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/portaltest"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/portal"
)

// startGNOMEPortal starts a headless GNOME (Mutter) with wlpattern and the real GNOME portal
// (xdg-desktop-portal + xdg-desktop-portal-gnome), and the hands of the person at the machine,
// who answer the portal's dialog (portaltest).
func startGNOMEPortal(t *testing.T) (*mutter.Headless, *wlpattern.Proc, *portaltest.Hands) {
	t.Helper()
	leakCheck(t)
	if buildErr != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", buildErr)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720, Logger: testLogger()})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wp := wlpattern.Start(t, wlpatternBin, h)
	err = portal.StartPortal(context.Background(), h, h.Bus(), "GNOME", portaltest.GNOMEPortal)
	if errors.Is(err, portal.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return h, wp, portaltest.NewHands(t, h)
}

func inject(t *testing.T, x input.Injector, events ...input.Event) {
	t.Helper()
	for _, e := range events {
		if err := x.Inject(e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGNOMEPortal: the portal backend on GNOME through the real portal and its dialog. The
// first session waits for the person (OnPrompt once), who allows remote interaction and
// clicks Share; the capture shows the client's colour blocks and follows a repaint; the
// portal's RemoteDesktop moves the pointer, clicks, presses a key, types text and scrolls into the client, in order.
func TestGNOMEPortal(t *testing.T) {
	h, wp, hands := startGNOMEPortal(t)
	var prompts atomic.Int32
	bus := h.Bus()
	v, err := portal.Available(context.Background(), bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("portal versions: ScreenCast %d, RemoteDesktop %d", v.ScreenCast, v.RemoteDesktop)
	s1 := open(t, portal.Config{Bus: bus, Input: true, Cursor: true, ConsentTimeout: time.Minute, Logger: testLogger(),
		OnPrompt: func(bool) {
			prompts.Add(1)
			hands.ShareRemoteDesktop()
		}})
	if n := prompts.Load(); n != 1 {
		t.Errorf("OnPrompt called %d times; want 1", n)
	}
	if !s1.CanInput() {
		t.Fatal("the GNOME portal's session has no input; the dialog's remote-interaction switch was not on")
	}
	// xdg-desktop-portal 1.16's RemoteDesktop is version 1: no persist_mode, so a
	// remote-control permission is not remembered (TestGNOMEPortalRestore covers tokens).
	if tok := s1.RestoreToken(); v.RemoteDesktop < 2 && tok != "" {
		t.Errorf("a restore token %q from RemoteDesktop version %d", tok, v.RemoteDesktop)
	}
	c := capturer(t, s1)
	waitPattern(t, c, 0)
	wp.Next()
	waitPattern(t, c, 1)

	x, err := s1.Injector()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	inject(t, x, input.Event{Type: input.TypePointerAbs, X: 480, Y: 180})
	wp.PointerAt(480, 180)
	inject(t, x, input.ButtonEvent(input.ButtonLeft, true), input.ButtonEvent(input.ButtonLeft, false))
	if got := wp.Expect("button "); got != "button 272 1 480 180" {
		t.Errorf("press: %q", got)
	}
	if got := wp.Expect("button "); got != "button 272 0 480 180" {
		t.Errorf("release: %q", got)
	}
	q, _ := input.ParseCode("KeyQ")
	inject(t, x, input.KeyEvent(q, true), input.KeyEvent(q, false))
	if got := wp.Expect("key "); got != "key 16 1 q" {
		t.Errorf("KeyQ down: %q", got)
	}
	if got := wp.Expect("key "); got != "key 16 0 -" {
		t.Errorf("KeyQ up: %q", got)
	}
	// Text by keysym, Shift level included, in order (the injector waits for each call's
	// reply: the portal handles calls in a thread pool and reorders those sent blind).
	inject(t, x, input.TextEvent("Hi"))
	for _, want := range []string{"key 42 1 -", "key 35 1 H", "key 35 0 -", "key 42 0 -", "key 23 1 i"} {
		if got := wp.Expect("key "); got != want {
			t.Errorf("text: %q, want %q", got, want)
		}
	}
	inject(t, x, input.WheelBy(0, input.WheelNotch))
	if got := wp.Expect("discrete "); got != "discrete 0 1" {
		t.Errorf("wheel click: %q", got)
	}
}

// TestGNOMEPortalRestore: a view-only portal session on GNOME (ScreenCast alone, where
// persist_mode is honoured): the person picks the monitor and clicks Share once, with
// "Remember this selection" ticked; the restore token then starts a second session without a
// dialog, and that one returns a new token. The capture of the restored session follows a
// repaint.
func TestGNOMEPortalRestore(t *testing.T) {
	h, wp, hands := startGNOMEPortal(t)
	var prompts atomic.Int32
	s1 := open(t, portal.Config{Bus: h.Bus(), Cursor: true, ConsentTimeout: time.Minute, Logger: testLogger(),
		OnPrompt: func(bool) {
			prompts.Add(1)
			hands.ShareScreenCast()
		}})
	if n := prompts.Load(); n != 1 {
		t.Errorf("OnPrompt called %d times; want 1", n)
	}
	if s1.CanInput() {
		t.Error("a ScreenCast session says it can inject input")
	}
	tok := s1.RestoreToken()
	if tok == "" {
		t.Fatal("no restore token from the GNOME portal's ScreenCast with persist_mode 2")
	}
	waitPattern(t, capturer(t, s1), 0)
	// s1 stays open: Mutter 43.8 spoils the next session once one whose stream was consumed
	// is stopped (docs/wayland.md); the host keeps its portal session for its lifetime too.

	began := time.Now()
	s2 := open(t, portal.Config{Bus: h.Bus(), Cursor: true, RestoreToken: tok, Logger: testLogger(),
		OnPrompt: func(bool) {
			prompts.Add(1)
			t.Error("the portal asked again despite the restore token")
			hands.ShareScreenCast()
		}})
	t.Logf("the session with the restore token started in %v", time.Since(began))
	// The spec calls tokens single-use; xdg-desktop-portal 1.16 hands back the same one.
	if tok2 := s2.RestoreToken(); tok2 == "" {
		t.Error("the restored session returned no token for the next one")
	} else {
		t.Logf("restored session's token is new: %v", tok2 != tok)
	}
	c := capturer(t, s2)
	waitPattern(t, c, 0)
	wp.Next()
	waitPattern(t, c, 1)
}

// TestGNOMEPortalViewOnly: the person clicks Share but leaves "Allow remote interaction" off.
// The session is view-only and says why (ErrInputDenied, not "no RemoteDesktop"); its capture
// works.
func TestGNOMEPortalViewOnly(t *testing.T) {
	h, _, hands := startGNOMEPortal(t)
	s := open(t, portal.Config{Bus: h.Bus(), Input: true, Cursor: true, ConsentTimeout: time.Minute, Logger: testLogger(),
		OnPrompt: func(bool) { hands.ClickAt(portaltest.ShareButton) }})
	if s.CanInput() {
		t.Fatal("the session has input though remote interaction was left off")
	}
	if err := s.NoInput(); !errors.Is(err, portal.ErrInputDenied) {
		t.Errorf("NoInput: %v; want ErrInputDenied", err)
	}
	if _, err := s.Injector(); !errors.Is(err, portal.ErrInputDenied) {
		t.Errorf("Injector: %v; want ErrInputDenied", err)
	}
	waitPattern(t, capturer(t, s), 0)
}
