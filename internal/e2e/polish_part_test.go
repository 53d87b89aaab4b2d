package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDownloadRemovesStaleParts: a killed download leaves .NAME.deskport-*.part next to its
// destination; the next `viewer cp` of the same name into the same directory removes those
// not written for StalePartAge (10 minutes), and nothing else: not a recent one (a download
// still running), not another name's, not a name Get would not make.
func TestDownloadRemovesStaleParts(t *testing.T) {
	w := newWorld(t)
	root := filepath.Join(w.dir, "files-root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "report.pdf"), []byte("the report"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startHost(t)
	local := filepath.Join(w.dir, "downloads")
	if err := os.MkdirAll(local, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	files := map[string]bool{ // name → removed
		".report.pdf.deskport-123456789.part": true,
		".report.pdf.deskport-42.part":        true,
		".report.pdf.deskport-777.part":       false, // written just now
		".other.pdf.deskport-123.part":        false,
		".report.pdf.deskport-x1.part":        false,
		".report.pdf.deskport-1.part.keep":    false,
		"report.pdf.deskport-5.part":          false,
	}
	for name := range files {
		p := filepath.Join(local, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != ".report.pdf.deskport-777.part" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := run(t, "viewer", "cp", w.hostID+":report.pdf", local+"/", "--rendezvous", w.rvURL,
		"--key", w.viewerKey, "--ice-loopback-only")
	if err != nil {
		t.Fatalf("viewer cp: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(local, "report.pdf")); err != nil || string(b) != "the report" {
		t.Fatalf("the download: %q, %v", b, err)
	}
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(local, name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v (%v)", name, gone, removed, err)
		}
	}
}
