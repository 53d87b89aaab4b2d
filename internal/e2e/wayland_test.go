package e2e

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
	"github.com/deskport/deskport/screen/mutter"
)

// startGNOMEWorld starts a headless GNOME session (Mutter, PipeWire, WirePlumber, a private
// bus) with the wlpattern client in it, and a rendezvous.
func startGNOMEWorld(t *testing.T) (*world, *mutter.Headless, *wlpattern.Proc) {
	t.Helper()
	wbin, err := wlpattern.Build(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", err)
	}
	h, err := mutter.StartHeadless(context.Background(), mutter.HeadlessConfig{Width: 1280, Height: 720})
	if errors.Is(err, mutter.ErrNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wp := wlpattern.Start(t, wbin, h)
	return newWorld(t), h, wp
}

// screenshot takes one picture with the native viewer and decodes it.
func (w *world) screenshotPNG(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(w.dir, name)
	if msg, err := run(t, "viewer", "screenshot", w.hostID, out, "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"); err != nil {
		t.Fatalf("viewer screenshot: %v\n%s", err, msg)
	}
	return out
}

func checkPNG(t testing.TB, path string, n int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("viewer screenshot wrote no PNG: %v", err)
	}
	checkImage(t, img, n)
}

// TestGNOMEDesktop: the host, started inside a GNOME Wayland session with the default
// --backend auto, picks Mutter and says so; the native viewer's screenshot shows the Wayland
// client's colour blocks in place, and after the client repaints, the next one shows the
// change.
func TestGNOMEDesktop(t *testing.T) {
	w, h, wp := startGNOMEWorld(t)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + h.Bus(), "XDG_RUNTIME_DIR=" + h.RuntimeDir(),
		"WAYLAND_DISPLAY=wayland-0", "XDG_SESSION_TYPE=wayland", "DISPLAY="}
	host := startEnv(t, env, "host", "--rendezvous", w.rvURL, "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--audit-log", filepath.Join(w.dir, "audit.log"))
	host.waitFor(`sharing the desktop.*backend=mutter.*width=1280 height=720`, 30*time.Second)
	host.waitFor(`registered`, 30*time.Second)

	// The first screenshot may come before Mutter's zoom-in of the new window has ended; a
	// screenshot is a new session each time, so take them until the picture is in place.
	deadline := time.Now().Add(30 * time.Second)
	for {
		shot := w.screenshotPNG(t, "gnome-0.png")
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
	checkPNG(t, w.screenshotPNG(t, "gnome-1.png"), 1)
}

// collect is a testing.T that records failures instead of failing, for a check repeated
// until it passes.
type collect struct {
	*testing.T
	failed bool
	msgs   []string
}

func (c *collect) Helper() {}
func (c *collect) Errorf(format string, args ...any) {
	c.failed = true
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

// TestBrowserGNOME: a person in Chromium sees the GNOME session's Wayland client and clicks and
// types into it through the host's Mutter backend: the client reports the click at the
// matching pixel and the typed text, a shifted character included. Then the clipboard both
// ways: the browser's text reaches a Wayland client's paste, and a Wayland copy reaches the
// browser.
func TestBrowserGNOME(t *testing.T) {
	w, h, wp := startGNOMEWorld(t)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + h.Bus(), "XDG_RUNTIME_DIR=" + h.RuntimeDir(),
		"WAYLAND_DISPLAY=wayland-0", "XDG_SESSION_TYPE=wayland", "DISPLAY="}
	host := startEnv(t, env, "host", "--backend", "mutter", "--listen", "127.0.0.1:0", "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--grant", "view,control,clipboard")
	link := host.waitFor(`open in a browser: (\S+)`, 30*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 5*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	waitPattern(t, b, 0) // also: Mutter's zoom-in of the new window is over
	b.do("wait-input")
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-gnome.png"))

	// Click in the middle of block 1,0: the client sees the press at 480,180 (±2).
	b.do("click", "0.375", "0.25")
	var btn, down, x, y int
	l := wp.Expect("button ")
	if _, err := fmt.Sscanf(l, "button %d %d %d %d", &btn, &down, &x, &y); err != nil {
		t.Fatalf("%q: %v", l, err)
	}
	if btn != 272 || down != 1 || abs(x-480) > 2 || abs(y-180) > 2 {
		t.Errorf("click at (0.375, 0.25) of 1280x720 arrived as %q; want a left press at 480,180 ±2", l)
	}

	// Type: plain letters and a shifted character, then Enter.
	b.do("type", `"deskport Hi!"`)
	b.do("press", "Enter")
	var typed strings.Builder
	for {
		l := wp.Expect("key ")
		var k, down int
		var text string
		if _, err := fmt.Sscanf(l, "key %d %d %s", &k, &down, &text); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if k == 28 { // Enter
			break
		}
		if down == 1 && text != "-" && k != 42 && k != 54 {
			typed.WriteString(text)
		}
	}
	if got, want := typed.String(), `deskport\x20Hi!`; got != want {
		t.Errorf("the Wayland client received %q, want %q", got, want)
	}

	// The clipboard client maps a window, which takes the keyboard focus a Wayland client
	// needs for the clipboard.
	cbin, err := wlpattern.BuildClip(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland clipboard test client: %v", err)
	}
	wl := wlpattern.StartClip(t, cbin, h)
	b.do("clip-write", `"from the browser ✓"`)
	b.do("clip-sync")
	if got := wl.Selection(); got != "from the browser ✓" {
		t.Errorf("the Wayland client pasted %q, want the browser's text", got)
	}
	wl.Copy("from Wayland ✓")
	b.do("clip-wait", `"from Wayland ✓"`)
	host.stop()
	host.waitFor(`input summary.*injected=[1-9]`, 5*time.Second)
}
