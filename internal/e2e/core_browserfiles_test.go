package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserFiles drives the browser viewer's file features as a person does: a file dropped
// on the picture (a name with spaces, parentheses and a non-ASCII letter) lands in the host's
// file root byte-exact, the Files panel lists it, a click downloads it byte-exact, and the
// host's audit log records both. A code session without the files grant sees the panel's
// refusal and its drop fails, with nothing written on the host.
func TestBrowserFiles(t *testing.T) {
	d := newDesktopWorld(t)
	root := filepath.Join(d.dir, "files-root")
	auditLog := filepath.Join(d.dir, "files-audit.log")
	_, link, code := d.startDesktopHost(t, "--grant", "view,files", "--files-root", root, "--audit-log", auditLog)
	b := startBrowser(t)
	b.do("open", link, code)
	b.do("wait-verified")

	const name, size = "odd name ü (1).bin", 3_000_001
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i % 251)
	}
	enc := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(name, "%", "%25"), " ", "%20"), "ü", "%C3%BC")
	b.do("files-open")
	if res := b.try("drop", enc, "3000001"); res["ok"] != true {
		t.Fatalf("the dropped file's upload: %v", res["label"])
	}
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil || string(got) != string(want) {
		t.Fatalf("the dropped file on the host: %d bytes, %v; want %d bytes byte-exact", len(got), err, size)
	}
	listed := b.do("files-open")
	names, _ := listed["names"].([]any)
	found := false
	for _, n := range names {
		found = found || n == name
	}
	if !found {
		t.Fatalf("the Files panel lists %v (error %q), not %q", names, listed["error"], name)
	}
	back := filepath.Join(d.dir, "downloaded.bin")
	res := b.do("download", enc, back)
	if res["suggested"] != name {
		t.Errorf("the browser saves the download as %q, want %q", res["suggested"], name)
	}
	if got, err := os.ReadFile(back); err != nil || string(got) != string(want) {
		t.Fatalf("the downloaded file: %d bytes, %v; want %d bytes byte-exact", len(got), err, size)
	}
	moved := map[string]bool{}
	for _, e := range readAudit(t, auditLog) {
		if e["type"] == "file" && e["path"] == name {
			moved[e["target"].(string)] = true
		}
	}
	if !moved["put"] || !moved["get"] {
		t.Errorf("the audit log records %v of the file; want its put and its get", moved)
	}

	// A code viewer granted only view: the panel says why, a drop fails, nothing lands.
	viewRoot := filepath.Join(d.dir, "view-root")
	_, link2, code2 := d.startDesktopHost(t, "--grant", "view", "--files-root", viewRoot, "--audit-log", filepath.Join(d.dir, "view-audit.log"))
	b2 := b // the same browser, on the second host's page
	b2.do("open", link2, code2)
	b2.do("wait-verified")
	if res := b2.do("files-open"); !strings.Contains(res["error"].(string), "not granted file transfer") {
		t.Errorf("a view-only viewer's Files panel says %q; want that file transfer was not granted", res["error"])
	}
	if res := b2.try("drop", "refused.bin", "1000"); res["ok"] == true || !strings.Contains(res["label"].(string), "not granted") {
		t.Errorf("a view-only viewer's drop: %v; want it refused as not granted", res["label"])
	}
	if entries, _ := os.ReadDir(viewRoot); len(entries) > 0 {
		t.Errorf("a view-only viewer's drop left %v in the host's file root", entries)
	}
}
