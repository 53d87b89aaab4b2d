//go:build linux

package portal

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/godbus/dbus/v5"
)

// Starter runs a command inside a desktop session (mutter.Headless.Start, Headless.Start).
type Starter interface {
	Start(cmd *exec.Cmd) error
}

// StartPortal starts a portal backend (impl, e.g. /usr/libexec/xdg-desktop-portal-gnome) and
// xdg-desktop-portal inside a session whose bus is at bus, with XDG_CURRENT_DESKTOP=desktop so
// the portal picks that backend, and waits until org.freedesktop.portal.Desktop is on the bus.
// It is for headless sessions a test or the host started; a real desktop starts its portal
// itself.
func StartPortal(ctx context.Context, s Starter, bus, desktop, impl string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := dbus.Connect(bus)
	if err != nil {
		return fmt.Errorf("portal: connecting to the session bus: %w", err)
	}
	defer conn.Close()
	// Whatever the bus activates later (the permission store, other backends) sees the same
	// desktop.
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.UpdateActivationEnvironment", 0,
		map[string]string{"XDG_CURRENT_DESKTOP": desktop}).Err; err != nil {
		return fmt.Errorf("portal: setting the bus's activation environment: %w", err)
	}
	owners := make(chan *dbus.Signal, 16)
	conn.Signal(owners)
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		return fmt.Errorf("portal: watching the bus: %w", err)
	}
	for _, p := range []string{impl, xdpPath} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%w: %s not found", ErrNotInstalled, p)
		}
		if err := s.Start(exec.Command("env", "XDG_CURRENT_DESKTOP="+desktop, p)); err != nil {
			return err
		}
	}
	for {
		var has bool
		if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, desktopName).Store(&has); err != nil {
			return fmt.Errorf("portal: asking the bus for %s: %w", desktopName, err)
		}
		if has {
			return nil
		}
		select {
		case <-owners:
		case <-ctx.Done():
			return fmt.Errorf("portal: xdg-desktop-portal did not come up on the bus: %w", ctx.Err())
		}
	}
}
