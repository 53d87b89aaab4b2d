package host

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestChooseBackend: --backend auto picks X11 unless this is a Wayland session whose bus has
// Mutter, and says what to do when neither works. (A bus with Mutter is in
// internal/e2e TestGNOMEDesktop.)
func TestChooseBackend(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name    string
		cfg     DesktopConfig
		env     map[string]string
		want    string
		wantErr string
	}{
		{"explicit x11", DesktopConfig{Backend: "x11"}, nil, BackendX11, ""},
		{"explicit mutter", DesktopConfig{Backend: "mutter"}, nil, BackendMutter, ""},
		{"explicit portal", DesktopConfig{Backend: "portal"}, nil, BackendPortal, ""},
		{"unknown", DesktopConfig{Backend: "kde"}, nil, "", "use x11, mutter, portal or auto"},
		{"--display", DesktopConfig{Display: ":3"}, map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, BackendX11, ""},
		{"--virtual-display", DesktopConfig{VirtualDisplay: "640x480"}, map[string]string{"XDG_SESSION_TYPE": "wayland"}, BackendX11, ""},
		{"an X11 session", DesktopConfig{}, map[string]string{"DISPLAY": ":0"}, BackendX11, ""},
		{"Wayland without Mutter, XWayland there", DesktopConfig{Backend: "auto"}, map[string]string{"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, BackendX11, ""},
		{"Wayland without Mutter or X", DesktopConfig{}, map[string]string{"XDG_SESSION_TYPE": "wayland"}, "", "this is a Wayland session but"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DISPLAY"} {
				t.Setenv(k, tc.env[k])
			}
			// A bus with nothing on it: no Mutter.
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+t.TempDir()+"/no-bus")
			got, err := chooseBackend(context.Background(), tc.cfg, log)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
