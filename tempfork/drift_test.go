package tempfork_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWebRTCForkMatchesUpstream rebuilds tempfork/webrtc from upstream and the patches (the
// module proxy serves the release) and compares it with the committed copy, file by file.
func TestWebRTCForkMatchesUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the Go module proxy to download upstream pion/webrtc")
	}
	dest := t.TempDir()
	cmd := exec.Command("./update-webrtc.sh", "", dest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-webrtc.sh: %v\n%s", err, out)
	}
	want := readTree(t, dest)
	got := readTree(t, "webrtc")
	delete(got, "DESKPORT.md") // ours, not made by the script
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: made by upstream + patches but missing from tempfork/webrtc", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: differs from upstream + patches; edit a patch in tempfork/patches/webrtc and rerun tempfork/update-webrtc.sh instead of the copy", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in tempfork/webrtc but not made by upstream + patches", name)
		}
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
