package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/screen/xvfb"
)

// mouseLocation asks xdotool where the host's pointer is.
func mouseLocation(t *testing.T, display string) (x, y int) {
	t.Helper()
	cmd := exec.Command("xdotool", "getmouselocation", "--shell")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xdotool getmouselocation: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "X="); ok {
			x, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "Y="); ok {
			y, _ = strconv.Atoi(v)
		}
	}
	return x, y
}

// TestBrowserInput: a person in Chromium clicks, types and scrolls on a host's Xvfb desktop,
// and the host's X server sees it: xdotool reports the pointer at the matching screen point,
// the typed text (a shifted character and a non-US character sent as text included) lands in
// an xterm, and wheel notches reach an X client.
func TestBrowserInput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 1280, Height: 720})
	if err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	defer srv.Close()
	w := newWorld(t)
	typed := filepath.Join(w.dir, "typed.txt")
	// An xterm in the top-left quarter whose input goes to a file, and an xev window in the
	// bottom-right that reports wheel buttons. Without a window manager the keyboard focus
	// follows the pointer.
	if _, err := srv.Run(ctx, fmt.Sprintf("xterm -u8 -geometry 80x20+0+0 -e sh -c 'cat > %s'", typed)); err != nil {
		t.Fatal(err)
	}
	xev := exec.Command("xev", "-geometry", "400x300+800+400", "-event", "button")
	xevOut, _ := xev.StdoutPipe()
	if _, err := srv.Start(ctx, xev); err != nil {
		t.Fatal(err)
	}
	wheel := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(xevOut)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "button 5") || strings.Contains(sc.Text(), "button 4") {
				wheel <- sc.Text()
			}
		}
	}()

	h := start(t, "host", "--display", srv.Display(), "--listen", "127.0.0.1:0", "--key", filepath.Join(w.dir, "host.key"),
		"--authorized-viewers", w.authorized, "--ice-loopback-only", "--grant", "view,control,clipboard")
	link := h.waitFor(`open in a browser: (\S+)`, 30*time.Second)[1]
	code := h.waitFor(`one-time code: (\S+)`, 5*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)

	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	b.do("wait-input")

	// Click inside the xterm: the host's pointer lands on the matching pixel.
	b.do("click", "0.125", "0.1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, y := mouseLocation(t, srv.Display())
		if abs(x-160) <= 2 && abs(y-72) <= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host pointer at (%d,%d) after a click at (0.125, 0.1) of 1280x720; want (160,72) ±2", x, y)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Type: plain letters, a shifted character, and é (not on a US keyboard: sent as text).
	b.do("type", `"deskport Typed é"`)
	b.do("press", "Enter")
	want := "deskport Typed é\n"
	deadline = time.Now().Add(15 * time.Second)
	for {
		got, _ := os.ReadFile(typed)
		if string(got) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the xterm received %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Scroll over the xev window: wheel buttons reach the X client.
	b.do("move", "0.8", "0.8")
	b.do("wheel", "240")
	select {
	case l := <-wheel:
		t.Logf("xev saw %s", strings.TrimSpace(l))
	case <-time.After(10 * time.Second):
		t.Fatal("no wheel button reached the X client within 10 s")
	}
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-input.png"))

	// Clipboard both ways: the browser's text reaches the host's X clipboard, and text copied
	// on the host reaches the browser's clipboard.
	b.do("clip-write", `"from the browser ✓"`)
	b.do("clip-sync")
	xclip := func(args ...string) *exec.Cmd {
		c := exec.Command("xclip", args...)
		c.Env = append(os.Environ(), "DISPLAY="+srv.Display())
		return c
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		out, _ := xclip("-o", "-selection", "clipboard").Output()
		if string(out) == "from the browser ✓" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host clipboard holds %q, want the browser's text", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	set := xclip("-selection", "clipboard")
	set.Stdin = strings.NewReader("from the host ✓")
	if err := set.Run(); err != nil {
		t.Fatalf("xclip: %v", err)
	}
	b.do("clip-wait", `"from the host ✓"`)
	if got := b.do("clip-read")["text"]; got != "from the host ✓" {
		t.Errorf("the browser clipboard holds %q, want the host's text", got)
	}
	h.stop()
	h.waitFor(`input summary.*injected=[1-9]`, 5*time.Second)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestViewerClipboard: `viewer clipboard` sets the host's X clipboard and prints what is copied
// on the host.
func TestViewerClipboard(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 640, Height: 480})
	if err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	defer srv.Close()
	w := newWorld(t)
	w.startHost(t, "--display", srv.Display())
	base := []string{w.hostID, "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}
	if out, err := run(t, "viewer", append([]string{"clipboard", "--set", "set by viewer"}, base...)...); err != nil {
		t.Fatalf("viewer clipboard --set: %v\n%s", err, out)
	}
	xclip := func(args ...string) *exec.Cmd {
		c := exec.Command("xclip", args...)
		c.Env = append(os.Environ(), "DISPLAY="+srv.Display())
		return c
	}
	if out, _ := xclip("-o", "-selection", "clipboard").Output(); string(out) != "set by viewer" {
		t.Fatalf("the host clipboard holds %q", out)
	}
	watch := start(t, "viewer", append([]string{"clipboard", "--watch"}, base...)...)
	watch.waitFor(`whenever it changes`, 60*time.Second)
	// The host answered the open only after taking its clipboard as the starting point, so a
	// copy made now is a change.
	set := xclip("-selection", "clipboard")
	set.Stdin = strings.NewReader("copied on the host")
	if err := set.Run(); err != nil {
		t.Fatal(err)
	}
	watch.waitFor(`^copied on the host$`, 30*time.Second)
}
