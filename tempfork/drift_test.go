package tempfork_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestForksMatchUpstream rebuilds every fork listed in forks.txt from its upstream release and
// patches (the module proxy serves the releases) and compares it with the committed copy, file by
// file.
func TestForksMatchUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the Go module proxy to download the upstream releases")
	}
	list, err := os.ReadFile("forks.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Fields(line); len(f) == 3 && !strings.HasPrefix(f[0], "#") {
			names = append(names, f[0])
		}
	}
	if len(names) == 0 {
		t.Fatal("forks.txt lists no fork")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dest := t.TempDir()
			if out, err := exec.Command("./update.sh", name, "", dest).CombinedOutput(); err != nil {
				t.Fatalf("update.sh %s: %v\n%s", name, err, out)
			}
			want := readTree(t, dest)
			got := readTree(t, name)
			delete(got, "DESKPORT.md") // ours, not made by the script
			for file, w := range want {
				g, ok := got[file]
				switch {
				case !ok:
					t.Errorf("%s/%s: made by upstream + patches but missing from the copy", name, file)
				case !bytes.Equal(g, w):
					t.Errorf("%s/%s: differs from upstream + patches; edit a patch in tempfork/patches/%s and rerun tempfork/update.sh %s instead of the copy", name, file, name, name)
				}
			}
			for file := range got {
				if _, ok := want[file]; !ok {
					t.Errorf("%s/%s: in the copy but not made by upstream + patches", name, file)
				}
			}
		})
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
