//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserViewOnlyGrants: a one-time code's session that the host accepts view-only
// (unattended, --accept view). The page used to say "connected" and offer the file panel, the
// drop zone, the clipboard and the keys, each failing when used. It now asks the host what the
// session may do: the status line says "view only", those controls are disabled with a title
// saying what would grant them, a dropped file is refused without reaching the host, and the
// screen plays.
func TestBrowserViewOnlyGrants(t *testing.T) {
	d := newDesktopWorld(t)
	root := filepath.Join(d.dir, "view-root")
	_, link, code := d.startDesktopHost(t, "--code", "--grant", "view", "--accept", "view", "--files-root", root)
	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	b.do("wait-text", "status", "connected — view only")
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-view-only.png"))

	c := b.do("controls")
	controls := c["controls"].(map[string]any)
	for id, want := range map[string]string{
		"files":          "file transfer was not granted to this session (granted: view); the host's owner grants it to a one-time code with host --code --grant view,files",
		"clipboard-sync": "the clipboard was not granted to this session (granted: view); the host's owner grants it to a one-time code with host --code --grant view,clipboard",
		"special-keys":   "control of the screen was not granted",
		"pointer-lock":   "control of the screen was not granted",
	} {
		ctl := controls[id].(map[string]any)
		if ctl["disabled"] != true || !strings.Contains(ctl["title"].(string), want) {
			t.Errorf("#%s in a view-only session: disabled %v, title %q; want disabled, saying %q", id, ctl["disabled"], ctl["title"], want)
		}
	}
	if c["filesPanelHidden"] != true {
		t.Errorf("a view-only session shows the files panel")
	}
	if title := c["statusTitle"].(string); !strings.Contains(title, "port forwarding (-L, -D) was not granted") {
		t.Errorf("the status line's title is %q; want each capability not granted", title)
	}
	st := b.do("state")["state"].(map[string]any)
	g := st["grants"].(map[string]any)
	if g["state"] != "known" || len(g["list"].([]any)) != 1 || g["list"].([]any)[0] != "view" {
		t.Errorf("deskport.grants = %v; want known, [view]", g)
	}
	in := st["input"].(map[string]any)
	if in["state"] != "unavailable" || !strings.Contains(in["message"].(string), "control of the screen was not granted") {
		t.Errorf("deskport.input = %v; want unavailable, not granted", in)
	}

	// A file dropped anyway is refused by the page, saying why; nothing lands on the host.
	if res := b.try("drop", "refused.bin", "1000"); res["ok"] == true || !strings.Contains(res["label"].(string), "file transfer was not granted") {
		t.Errorf("a view-only session's drop: %v; want it refused as not granted", res["label"])
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Errorf("a view-only session's drop left %v in the host's file root", entries)
	}
}

// TestBrowserWaitsForConsent: a one-time code's session on an attended host (--accept ask, its
// owner at a terminal). The page used to say "connected" and show nothing until the owner
// answered; it now says within a few seconds that it waits for the host's owner, as the native
// viewer does, and once the owner allows it ([a]) says what the session may do and plays.
func TestBrowserWaitsForConsent(t *testing.T) {
	d := newDesktopWorld(t)
	master, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--display", d.srv.Display(), "--listen", "127.0.0.1:0",
		"--key", filepath.Join(d.dir, "host.key"), "--authorized-viewers", d.authorized, "--ice-loopback-only",
		"--files-root", filepath.Join(d.dir, "root"),
		"--code", "--grant", "view,control,clipboard,files", "--accept", "ask", "--consent-timeout", "60s")
	link := h.waitFor(`open in a browser: (\S+)`, 30*time.Second)[1]
	code := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)

	b := startBrowser(t)
	b.do("open", link, code)
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	b.do("wait-text", "status", "connected — waiting for the host's owner to accept this session (they are asked on the host)…")
	b.do("screenshot", filepath.Join(artifactDir(t), "browser-waits-for-consent.png"))
	st := b.do("state")["state"].(map[string]any)
	if g := st["grants"].(map[string]any); g["state"] != "waiting" {
		t.Errorf("while the owner is asked, deskport.grants = %v; want waiting", g)
	}
	if in := st["input"].(map[string]any); in["state"] == "on" {
		t.Errorf("the input stream is on before the owner answered")
	}

	if _, err := master.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	h.waitFor(`granted: view,control,clipboard,files`, 10*time.Second)
	b.do("wait-text", "status", "connected — allowed: view, control, clipboard, files")
	b.do("wait-verified")
	waitPattern(t, b, 0)
	b.do("wait-input")
	c := b.do("controls")
	for id, ctl := range c["controls"].(map[string]any) {
		if ctl.(map[string]any)["disabled"] == true {
			t.Errorf("#%s is disabled in a session granted view, control, clipboard and files", id)
		}
	}
	if title := c["statusTitle"].(string); !strings.Contains(title, "port forwarding (-L, -D) was not granted") || strings.Contains(title, "file transfer") {
		t.Errorf("the status line's title is %q; want forwarding (not granted) and not files (granted)", title)
	}
	if res := b.do("files-open"); res["error"] != "" {
		t.Errorf("the files panel of a session granted files: %q", res["error"])
	}
}

// TestBrowserConsentRefused: a page that leaves while the host's owner is asked (Disconnect)
// just closes, and the host withdraws its question; a page whose session the owner refuses
// ([n]) says, as the native viewer does, that the host ended it before its owner accepted it,
// instead of a bare connection error.
func TestBrowserConsentRefused(t *testing.T) {
	d := newDesktopWorld(t)
	master, slave := openPTY(t)
	h := startInput(t, slave, nil, "host", "--display", d.srv.Display(), "--listen", "127.0.0.1:0",
		"--key", filepath.Join(d.dir, "host.key"), "--authorized-viewers", d.authorized, "--ice-loopback-only",
		"--code", "--grant", "view,control", "--accept", "ask", "--consent-timeout", "60s")
	link := h.waitFor(`open in a browser: (\S+)`, 30*time.Second)[1]
	code := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	h.waitFor(`registered`, 30*time.Second)
	b := startBrowser(t)
	const waiting = "connected — waiting for the host's owner to accept this session"

	b.do("open", link, code)
	h.waitFor(`wants in with the one-time code`, 60*time.Second)
	b.do("wait-text", "status", waiting)
	b.do("button", "disconnect")
	h.waitFor(`the viewer left before the host owner answered`, 30*time.Second)
	if st := b.do("state")["state"].(map[string]any); st["state"] != "closed" || st["error"] != nil {
		t.Errorf("after Disconnect while the owner was asked the page is %v with error %v; want closed, no error", st["state"], st["error"])
	}

	// A new code (Enter, with no question open), and this time the owner refuses.
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	code2 := h.waitMatch(`one-time code: (\S+)`, 10*time.Second, func(m []string) bool { return m[1] != code })[1]
	b.do("open", link, code2)
	b.do("wait-text", "status", waiting) // the host asks its owner again
	if _, err := master.Write([]byte("n\n")); err != nil {
		t.Fatal(err)
	}
	res := b.do("wait-error")
	if msg := res["error"].(string); !strings.Contains(msg, "the host ended the session before its owner accepted it (refused, or no answer in time)") {
		t.Errorf("after the owner refused, the page says %q; want that the host ended it before its owner accepted it", msg)
	}
	if e := res["state"].(map[string]any)["error"].(map[string]any); e["code"] != "not_accepted" {
		t.Errorf("deskport.error.code = %v, want not_accepted", e["code"])
	}
}

// TestBrowserKeyGrants: this browser's key, trusted by the host with no-files and no-clipboard
// on its authorized_viewers line. The page says what the key may do, and the disabled
// controls' titles name the line's options as what takes them away (not `--grant`, which is
// for one-time codes).
func TestBrowserKeyGrants(t *testing.T) {
	d := newDesktopWorld(t)
	h, link, _ := d.startDesktopHost(t)
	b := startBrowser(t)
	b.do("goto", link)
	var line string
	for deadline := time.Now().Add(20 * time.Second); line == ""; time.Sleep(100 * time.Millisecond) {
		line, _ = b.do("state")["state"].(map[string]any)["authorizedLine"].(string)
		if time.Now().After(deadline) {
			t.Fatal("the page never showed its authorized_viewers line")
		}
	}
	f, err := os.OpenFile(d.authorized, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\nno-files,no-clipboard " + line + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.waitFor(`reloaded the policy.*trusted_keys=2`, 30*time.Second)

	b.do("button", "connect")
	b.do("wait-verified")
	b.do("wait-text", "status", "connected — allowed: view, control, forward, listen")
	b.do("wait-input")
	c := b.do("controls")["controls"].(map[string]any)
	for id, want := range map[string]string{
		"files":          "file transfer was not granted to this session (granted: view,control,forward,listen); the host's owner removes no-files from this browser's line in the host's authorized_viewers",
		"clipboard-sync": "the host's owner removes no-clipboard from this browser's line",
	} {
		ctl := c[id].(map[string]any)
		if ctl["disabled"] != true || !strings.Contains(ctl["title"].(string), want) {
			t.Errorf("#%s for a key with no-files,no-clipboard: disabled %v, title %q; want disabled, saying %q", id, ctl["disabled"], ctl["title"], want)
		}
	}
	for _, id := range []string{"special-keys", "pointer-lock"} {
		if c[id].(map[string]any)["disabled"] == true {
			t.Errorf("#%s is disabled for a key with control", id)
		}
	}
}

// TestBrowserKickedSaysSo: a browser session the host's owner ends (`host kick`). The page only
// notices that the connection went quiet and restarts ICE; the host, which no longer has the
// session, refused each restart with a plain bye and the page said "the network changed,
// moving the connection" for 60 s and then blamed this computer's network. The host's bye now
// says it has no such session, and the page fails at once with host_restarted.
func TestBrowserKickedSaysSo(t *testing.T) {
	d := newDesktopWorld(t)
	_, link, code := d.startDesktopHost(t, "--code", "--grant", "view,control", "--accept", "grant")
	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	if out, err := run(t, "host", "kick", "all", "--key", filepath.Join(d.dir, "host.key")); err != nil || !strings.Contains(out, "ended 1 session") {
		t.Fatalf("host kick all: %v\n%s", err, out)
	}
	began := time.Now()
	res := b.do("wait-error")
	if msg := res["error"].(string); !strings.Contains(msg, "no longer has this session; connect again") {
		t.Errorf("after a kick the page says %q; want that the host no longer has the session", msg)
	}
	if e := res["state"].(map[string]any)["error"].(map[string]any); e["code"] != "host_restarted" {
		t.Errorf("deskport.error.code = %v, want host_restarted", e["code"])
	}
	t.Logf("the page said so %v after the kick", time.Since(began).Round(100*time.Millisecond))
}
