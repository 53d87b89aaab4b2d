//go:build linux && cgo

package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/portaltest"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/portal"
)

// TestPortalDesktop: the real host binary with --backend portal inside a headless GNOME that
// runs the real desktop portal (xdg-desktop-portal + -gnome). The portal's dialog waits for
// the person at the machine; the host says so on its terminal ("click Share", and that GNOME's portal 43 cannot remember a
// choice with remote control), the person
// allows remote interaction and clicks Share, the host reports the portal backend with input,
// and the native viewer's screenshot shows the Wayland client's blocks in place, then its
// repaint.
func TestPortalDesktop(t *testing.T) {
	w, h, wp := startGNOMEWorld(t)
	err := portal.StartPortal(context.Background(), h, h.Bus(), "GNOME", portaltest.GNOMEPortal)
	if errors.Is(err, portal.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	hands := portaltest.NewHands(t, h)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + h.Bus(), "XDG_RUNTIME_DIR=" + h.RuntimeDir(),
		"WAYLAND_DISPLAY=wayland-0", "XDG_SESSION_TYPE=wayland", "DISPLAY="}
	host := startEnv(t, env, "host", "--backend", "portal", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--audit-log", filepath.Join(w.dir, "audit.log"))
	host.waitFor(`click Share on this machine's screen \(this desktop's portal cannot remember`, 30*time.Second)
	hands.ShareRemoteDesktop()
	host.waitFor(`sharing the desktop.*backend=portal.*width=1280 height=720 input=true`, 30*time.Second)
	host.waitFor(`registered`, 30*time.Second)

	// The first screenshot may still show the dialog going away; take them until the picture
	// is in place.
	deadline := time.Now().Add(30 * time.Second)
	for {
		shot := w.screenshotPNG(t, "portal-0.png")
		sub := &collect{T: t}
		checkPNG(sub, shot, 0)
		if !sub.failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screenshot never showed pattern 0: %s", strings.Join(sub.msgs, "; "))
		}
	}
	wp.Next()
	checkPNG(t, w.screenshotPNG(t, "portal-1.png"), 1)
}
