package files

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPutIntoDirectory: an upload to a path that is a directory on the host goes into that
// directory under the local file's name, as `cp` and `scp` do; before, `viewer cp report.pdf
// HOST:inbox` was refused with "inbox exists on the host and is not a regular file" while
// HOST:inbox/ and HOST: worked. A path that is some other non-file is still refused.
func TestPutIntoDirectory(t *testing.T) {
	e := newEnv(t, Config{})
	dir := t.TempDir()
	src := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(src, []byte("the report"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.root, "inbox", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, remote := range []string{"inbox", "inbox/deeper"} {
		if err := Put(ctx, e.open, src, remote, nil); err != nil {
			t.Fatalf("Put to directory %s: %v", remote, err)
		}
		if got, err := os.ReadFile(filepath.Join(e.root, remote, "report.pdf")); err != nil || !bytes.Equal(got, []byte("the report")) {
			t.Errorf("Put to directory %s: %q, %v", remote, got, err)
		}
	}
	// A directory named like the file inside the directory: refused, not nested further.
	if err := os.MkdirAll(filepath.Join(e.root, "box", "report.pdf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, e.open, src, "box", nil); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Put to box whose report.pdf is a directory: %v, want ErrNotRegular", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "box", "report.pdf", "report.pdf")); err == nil {
		t.Error("the upload went two directories deep")
	}
	noTemps(t, filepath.Join(e.root, "inbox"))
}
