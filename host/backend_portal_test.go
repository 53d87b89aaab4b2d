//go:build linux

package host

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/portal"
)

// TestChooseBackendPortal: in a Wayland session whose bus has the desktop portal but not
// Mutter (a headless sway with xdg-desktop-portal-wlr), --backend auto picks the portal.
func TestChooseBackendPortal(t *testing.T) {
	h, err := portal.StartHeadless(context.Background(), portal.HeadlessConfig{})
	if errors.Is(err, portal.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", h.Bus())
	t.Setenv("WAYLAND_DISPLAY", h.WaylandDisplay())
	t.Setenv("XDG_SESSION_TYPE", "wayland")
	t.Setenv("DISPLAY", ":0") // XWayland would be the fallback; the portal comes first
	got, err := chooseBackend(context.Background(), DesktopConfig{}, slog.New(slog.DiscardHandler))
	if err != nil || got != BackendPortal {
		t.Fatalf("auto on a bus with the portal and no Mutter: %q, %v; want %q", got, err, BackendPortal)
	}
}

// TestPortalTokenPath: the restore token lives next to the host key.
func TestPortalTokenPath(t *testing.T) {
	a := &Agent{cfg: Config{KeyPath: "/var/lib/deskport/host.key"}}
	if got := portalTokenPath(a.desktopConfig()); got != "/var/lib/deskport/portal-restore-token" {
		t.Errorf("token path %q", got)
	}
}
