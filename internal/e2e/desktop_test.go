package e2e

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/xpattern/pattern"
	"github.com/deskport/deskport/internal/xpattern/xpatterntest"
	"github.com/deskport/deskport/screen/xvfb"
)

// tolerance is how far a decoded colour may be from the painted one, per channel: lossy video
// and BT.601 conversion move saturated colours by a few tens at most.
const tolerance = 60

func near(got []float64, want pattern.RGB) bool {
	d := func(a float64, b uint8) float64 {
		if a > float64(b) {
			return a - float64(b)
		}
		return float64(b) - a
	}
	return len(got) == 3 && d(got[0], want.R) <= tolerance && d(got[1], want.G) <= tolerance && d(got[2], want.B) <= tolerance
}

// blockPoints are the normalised centres of every block, as "x,y" arguments for the driver.
func blockPoints() (args []string, cells [][2]int) {
	for row := 0; row < pattern.Rows; row++ {
		for col := 0; col < pattern.Cols; col++ {
			x, y := pattern.Center(col, row)
			args = append(args, fmt.Sprintf("%.4f,%.4f", x, y))
			cells = append(cells, [2]int{col, row})
		}
	}
	return args, cells
}

// sampleMatches samples the video and reports which blocks differ from pattern n.
func sampleMatches(b *browser, n int) (mismatches []string, res map[string]any) {
	args, cells := blockPoints()
	res = b.do(append([]string{"sample"}, args...)...)
	px, _ := res["px"].([]any)
	for i, cell := range cells {
		var got []float64
		if i < len(px) {
			for _, v := range px[i].([]any) {
				got = append(got, v.(float64))
			}
		}
		want := pattern.Block(n, cell[0], cell[1])
		if !near(got, want) {
			mismatches = append(mismatches, fmt.Sprintf("block %v: got %v, want %v", cell, got, want))
		}
	}
	return mismatches, res
}

// waitPattern samples until the video shows pattern n (bounded; a hang guard, not a timing
// assertion).
func waitPattern(t *testing.T, b *browser, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		bad, res := sampleMatches(b, n)
		if len(bad) == 0 {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser's video never showed pattern %d: %s", n, strings.Join(bad, "; "))
		}
	}
}

type desktopWorld struct {
	*world
	srv *xvfb.Server
	pat *xpatterntest.Proc
}

func newDesktopWorld(t *testing.T) *desktopWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 1280, Height: 720})
	if err != nil {
		cancel()
		t.Fatalf("starting Xvfb: %v", err)
	}
	t.Cleanup(func() { srv.Close(); cancel() })
	w := newWorld(t)
	return &desktopWorld{world: w, srv: srv, pat: xpatterntest.Start(t, bin("xpattern"), srv, "blocks")}
}

// startDesktopHost runs a host on the Xvfb display with its embedded rendezvous; it returns the
// browser link and the one-time code it prints.
func (d *desktopWorld) startDesktopHost(t *testing.T, extra ...string) (p *proc, link, code string) {
	t.Helper()
	args := append([]string{"--display", d.srv.Display(), "--listen", "127.0.0.1:0", "--key", filepath.Join(d.dir, "host.key"),
		"--authorized-viewers", d.authorized, "--ice-loopback-only"}, extra...)
	p = start(t, "host", args...)
	link = p.waitFor(`open in a browser: (\S+)`, 30*time.Second)[1]
	code = p.waitFor(`one-time code: (\S+)`, 5*time.Second)[1]
	p.waitFor(`registered`, 30*time.Second)
	d.rvURL = strings.SplitN(link, "/#", 2)[0]
	return p, link, code
}

// TestBrowserDesktop: Xvfb shows colour blocks, the host streams them, headless Chromium opens
// the viewer page, authenticates with the one-time code, and the decoded <video> shows each
// block's colour in the right place; then the picture changes and the browser sees it.
func TestBrowserDesktop(t *testing.T) {
	d := newDesktopWorld(t)
	host, link, code := d.startDesktopHost(t)
	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	// The page named its bundle in the auth hello; the host logs it and that it is its own.
	host.waitFor(`viewer connected.*client=deskport-web/1\+[0-9a-f]{12} bundle_matches_host=true`, 10*time.Second)
	res := waitPattern(t, b, 0)
	if res["width"].(float64) != 1280 || res["height"].(float64) != 720 {
		t.Errorf("video is %vx%v, want 1280x720", res["width"], res["height"])
	}
	art := artifactDir(t)
	b.do("screenshot", filepath.Join(art, "browser-desktop-pattern0.png"))
	st := b.do("state")["state"].(map[string]any)
	if st["verified"] != true || st["method"] != "code" {
		t.Errorf("page state %v: want verified by code", st)
	}

	// The control stream: the host lists its one 1280x720 monitor and reports its encoder.
	ctl := b.do("wait-control")["control"].(map[string]any)
	if mons, _ := ctl["monitors"].([]any); len(mons) != 1 || mons[0].(map[string]any)["width"].(float64) != 1280 {
		t.Errorf("control stream monitors %v, want one 1280 wide", ctl["monitors"])
	}

	d.pat.Next()
	waitPattern(t, b, 1)
	b.do("screenshot", filepath.Join(art, "browser-desktop-pattern1.png"))

	// The native viewer's screenshot of the same picture, with a trusted key.
	out := filepath.Join(d.dir, "shot.png")
	if msg, err := run(t, "viewer", "screenshot", d.hostID, out, "--rendezvous", d.rvURL, "--key", d.viewerKey, "--ice-loopback-only"); err != nil {
		t.Fatalf("viewer screenshot: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("viewer screenshot wrote no PNG: %v", err)
	}
	checkImage(t, img, 1)
}

func checkImage(t testing.TB, img image.Image, n int) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("screenshot is %dx%d, want 1280x720", b.Dx(), b.Dy())
	}
	for row := 0; row < pattern.Rows; row++ {
		for col := 0; col < pattern.Cols; col++ {
			nx, ny := pattern.Center(col, row)
			r, g, bl, _ := img.At(b.Min.X+int(nx*float64(b.Dx())), b.Min.Y+int(ny*float64(b.Dy()))).RGBA()
			got := []float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
			if want := pattern.Block(n, col, row); !near(got, want) {
				t.Errorf("screenshot block (%d,%d): got %v, want %v", col, row, got, want)
			}
		}
	}
}

// TestBrowserWrongCode: a wrong code in the browser gives a clear message and no video, and the
// code is used up: the right code is refused afterwards.
func TestBrowserWrongCode(t *testing.T) {
	d := newDesktopWorld(t)
	host, link, code := d.startDesktopHost(t)
	b := startBrowser(t)
	b.do("open", link, flipCode(code))
	res := b.do("wait-error")
	msg := strings.ToLower(fmt.Sprint(res["error"]))
	if !strings.Contains(msg, "wrong") || !strings.Contains(msg, "code") {
		t.Errorf("the page said %q; want it to say the code was wrong", res["error"])
	}
	st := res["state"].(map[string]any)
	if f, _ := st["framesDecoded"].(float64); f != 0 || st["verified"] == true {
		t.Errorf("a wrong code still got video or verification: %v", st)
	}
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-wrong-code.png"))
	host.waitFor(`code is used up`, 10*time.Second)

	b2 := startBrowser(t)
	b2.do("open", link, code)
	res = b2.do("wait-error")
	if !strings.Contains(strings.ToLower(fmt.Sprint(res["error"])), "code") {
		t.Errorf("the burned code gave %q; want a message about the code", res["error"])
	}
}
