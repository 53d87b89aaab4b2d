package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fileSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

func writeRandom(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.NewChaCha8([32]byte{'f', 'i', 'l', 'e'})
	if _, err := io.CopyN(f, r, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestCopyFiles: viewer cp of 256 MiB both ways is byte-exact; a transfer killed halfway leaves
// no file under the final name; ../ and symlink escapes are refused with a clear message.
func TestCopyFiles(t *testing.T) {
	w := newWorld(t)
	root := filepath.Join(w.dir, "files-root")
	w.startHost(t, "--files-root", root)
	const size = 256 << 20
	local := filepath.Join(w.dir, "big.bin")
	writeRandom(t, local, size)
	want := fileSum(t, local)
	base := []string{"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}

	if out, err := run(t, "viewer", append([]string{"cp", local, w.hostID + ":in/big.bin", "--no-progress"}, base...)...); err != nil {
		t.Fatalf("viewer cp up: %v\n%s", err, out)
	}
	if got := fileSum(t, filepath.Join(root, "in", "big.bin")); got != want {
		t.Fatalf("upload: SHA-256 %s, want %s", got, want)
	}
	back := filepath.Join(w.dir, "back.bin")
	if out, err := run(t, "viewer", append([]string{"cp", w.hostID + ":in/big.bin", back, "--no-progress"}, base...)...); err != nil {
		t.Fatalf("viewer cp down: %v\n%s", err, out)
	}
	if got := fileSum(t, back); got != want {
		t.Fatalf("download: SHA-256 %s, want %s", got, want)
	}

	// Killed halfway, both directions: no file appears under the final name.
	for _, dir := range []string{"up", "down"} {
		var v *proc
		var final string
		if dir == "up" {
			final = filepath.Join(root, "in", "killed.bin")
			v = start(t, "viewer", append([]string{"cp", local, w.hostID + ":in/killed.bin", "--no-progress"}, base...)...)
		} else {
			final = filepath.Join(w.dir, "killed-down.bin")
			v = start(t, "viewer", append([]string{"cp", w.hostID + ":in/big.bin", final, "--no-progress"}, base...)...)
		}
		partDir := filepath.Dir(final)
		deadline := time.Now().Add(60 * time.Second)
		for !partGrown(partDir, 8<<20) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no partial transfer appeared in %s", dir, partDir)
			}
			time.Sleep(10 * time.Millisecond)
		}
		v.cmd.Process.Signal(syscall.SIGKILL)
		v.wait(10 * time.Second)
		if _, err := os.Stat(final); !os.IsNotExist(err) {
			t.Errorf("%s: a transfer killed halfway left %s (err %v)", dir, final, err)
		}
	}

	// Escapes are refused with a message that says why.
	if err := os.Symlink("/etc", filepath.Join(root, "etc-link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, dst, want string }{
		{local, w.hostID + ":../escape.bin", "leave"},
		{w.hostID + ":etc-link/passwd", filepath.Join(w.dir, "passwd"), ""},
		{w.hostID + ":/etc/passwd", filepath.Join(w.dir, "passwd"), ""},
	} {
		out, err := run(t, "viewer", append([]string{"cp", c.src, c.dst, "--no-progress"}, base...)...)
		if err == nil {
			t.Errorf("viewer cp %s %s escaped the file root:\n%s", c.src, c.dst, out)
			continue
		}
		if c.want != "" && !strings.Contains(out, c.want) {
			t.Errorf("viewer cp %s %s said %q; want it to mention %q", c.src, c.dst, out, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "escape.bin")); err == nil {
		t.Error("../escape.bin was written outside the root")
	}
}

// partGrown reports whether dir holds a partial transfer of at least n bytes.
func partGrown(dir string, n int64) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part") || strings.Contains(e.Name(), "deskport") {
			if info, err := e.Info(); err == nil && info.Size() >= n {
				return true
			}
		}
	}
	return false
}
