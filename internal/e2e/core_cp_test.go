package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyIntoHostDirectory: `viewer cp report.pdf HOST:inbox`, where inbox is a directory on
// the host, puts the file into it under its own name, as cp and scp do and as a download into
// a local directory already did; before, it was refused with "inbox exists on the host and is
// not a regular file" while HOST:inbox/ worked. A directory is still never replaced: when
// inbox/report.pdf is itself a directory the copy is refused and goes no deeper.
func TestCopyIntoHostDirectory(t *testing.T) {
	w := newWorld(t)
	root := filepath.Join(w.dir, "files-root")
	if err := os.MkdirAll(filepath.Join(root, "inbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "box", "report.pdf"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.startHost(t, "--no-desktop")
	local := filepath.Join(w.dir, "report.pdf")
	if err := os.WriteFile(local, []byte("the report"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only", "--no-progress"}
	if out, err := run(t, "viewer", append([]string{"cp", local, w.hostID + ":inbox"}, base...)...); err != nil {
		t.Fatalf("viewer cp report.pdf HOST:inbox: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(root, "inbox", "report.pdf")); err != nil || string(got) != "the report" {
		t.Fatalf("inbox/report.pdf on the host: %q, %v", got, err)
	}
	out, err := run(t, "viewer", append([]string{"cp", local, w.hostID + ":box"}, base...)...)
	if err == nil || !strings.Contains(out, "not a regular file") {
		t.Errorf("viewer cp into box, whose report.pdf is a directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "box", "report.pdf", "report.pdf")); err == nil {
		t.Error("the copy went two directories deep")
	}
}
