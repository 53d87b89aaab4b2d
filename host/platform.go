package host

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// hostOS is the platform the command line decides for; a test sets another.
var hostOS = runtime.GOOS

// ErrDesktopUnsupported is wrapped by the error a host gives for desktop flags on a platform
// where it cannot share the screen yet.
var ErrDesktopUnsupported = errors.New("the desktop is not available on this platform yet")

// desktopFlags configure the shared screen; the other flags (forwards, keys, the service)
// work on every platform.
var desktopFlags = []string{"backend", "display", "monitor", "codec", "fps", "max-bitrate", "virtual-display", "run"}

// DesktopSupported reports whether a host built for goos can share its screen: only Linux
// (X11, with cgo) can today. Windows and macOS hosts build without cgo and serve port
// forwards and run as a service.
func DesktopSupported(goos string) bool { return goos == "linux" }

// platformNote is the paragraph of `host --help` that says what works where.
const platformNote = `Platforms: on Linux the host shares its desktop (X11, or GNOME on Wayland) and forwards
ports. On Windows and macOS it forwards ports (-L, -R, -D) and runs as a service (host service
install); sharing the desktop is not available there yet, so the desktop flags (--backend,
--display, --monitor, --codec, --fps, --max-bitrate, --virtual-display, --run) are refused.`

// refuseDesktopFlags returns an error naming the desktop flags that set reports as given (on
// the command line or in the config file) when a host for goos cannot share its desktop.
func refuseDesktopFlags(goos string, set func(name string) bool) error {
	if DesktopSupported(goos) {
		return nil
	}
	var given []string
	for _, name := range desktopFlags {
		if set(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w (%s): a host on Windows or macOS forwards ports and runs as a service; remove %s from the command line and the config file",
		strings.Join(given, ", "), ErrDesktopUnsupported, goos, strings.Join(given, ", "))
}
