package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/internal/wlpattern"
)

// TestBrowserGNOMEMonitors: the host's own headless GNOME with two monitors
// (`--virtual-display 1280x720,800x600 --backend mutter`, the Wayland client on the first);
// the web viewer shows the whole desktop (2080x720) and lists both monitors; picking the
// second one moves the video there (800x600, without the client's blocks), picking the first
// shows the client's blocks.
func TestBrowserGNOMEMonitors(t *testing.T) {
	wbin, err := wlpattern.Build(t.TempDir())
	if err != nil {
		testenv.Missing(t, "cannot build the Wayland test client: %v", err)
	}
	w := newWorld(t)
	// wlpattern quits when its stdin closes: a pipe from sleep keeps it (the host stops the
	// program's process group on exit).
	host := start(t, "host", "--virtual-display", "1280x720,800x600", "--backend", "mutter", "--run", "sleep 3600 | "+wbin,
		"--listen", "127.0.0.1:0", "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--grant", "view,control")
	link := host.waitFor(`open in a browser: (\S+)`, 60*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 5*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	if res := b.do("sample", "0.5,0.5"); res["width"].(float64) != 2080 || res["height"].(float64) != 720 {
		t.Errorf("the video is %vx%v, want the whole desktop's 2080x720", res["width"], res["height"])
	}
	ctl := b.do("wait-control")["control"].(map[string]any)
	mons, _ := ctl["monitors"].([]any)
	if len(mons) != 2 || mons[1].(map[string]any)["width"].(float64) != 800 {
		t.Fatalf("the page lists monitors %v, want 1280x720 and 800x600", ctl["monitors"])
	}
	b.do("monitor", "1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := b.do("sample", "0.5,0.5")
		if res["width"].(float64) == 800 && res["height"].(float64) == 600 {
			if bad, _ := sampleMatches(b, 0); len(bad) == 0 {
				t.Fatal("the second monitor shows the first one's client")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the video never became the second monitor's 800x600 (it is %vx%v)", res["width"], res["height"])
		}
	}
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-gnome-monitor1.png"))
	b.do("monitor", "0") // also: Mutter's zoom-in of the new window is over
	if res := waitPattern(t, b, 0); res["width"].(float64) != 1280 {
		t.Errorf("back on the first monitor, the video is %vx%v", res["width"], res["height"])
	}
	host.waitFor(`viewer switched monitor.*monitor=0`, 10*time.Second)
}
