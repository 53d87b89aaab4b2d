package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
)

// TestGNOMEClipboard: on the mutter backend, `viewer clipboard --set` puts text on the GNOME
// clipboard, where a Wayland client pastes it (and it stays after the viewer left), and text a
// Wayland client copies reaches `viewer clipboard --watch`.
func TestGNOMEClipboard(t *testing.T) {
	bin, err := wlpattern.BuildClip(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland clipboard test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	w := newWorld(t)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + h.Bus(), "XDG_RUNTIME_DIR=" + h.RuntimeDir(),
		"WAYLAND_DISPLAY=wayland-0", "XDG_SESSION_TYPE=wayland", "DISPLAY="}
	host := startEnv(t, env, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only")
	host.waitFor(`sharing the desktop.*backend=mutter`, 30*time.Second)
	host.waitFor(`registered`, 30*time.Second)
	wl := wlpattern.StartClip(t, bin, h)

	base := []string{w.hostID, "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}
	text := "set by viewer ✓ «ß»"
	if out, err := run(t, "viewer", append([]string{"clipboard", "--set", text}, base...)...); err != nil {
		t.Fatalf("viewer clipboard --set: %v\n%s", err, out)
	}
	if got := wl.Selection(); got != text {
		t.Fatalf("the Wayland client pasted %q, want %q", got, text)
	}
	watch := start(t, "viewer", append([]string{"clipboard", "--watch"}, base...)...)
	watch.waitFor(`whenever it changes`, 60*time.Second)
	wl.Copy("copied in Wayland")
	watch.waitFor(`^copied in Wayland$`, 30*time.Second)
}
