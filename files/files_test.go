package files

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/mux"
)

func TestRoundTrip(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 64 << 20
	}
	e := newEnv(t, Config{})
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	want := writeRandom(t, src, size, 1)
	ctx := context.Background()

	var last int64
	start := time.Now()
	if err := Put(ctx, e.open, src, "in/big.bin", func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	if last != size {
		t.Errorf("progress ended at %d, want %d", last, size)
	}
	if tr := e.waitTransfer(t); tr.Err != nil || tr.Bytes != size || tr.Op != OpPut || tr.Path != "in/big.bin" {
		t.Fatalf("host report %+v", tr)
	}
	if got := fileSum(t, filepath.Join(e.root, "in/big.bin")); got != want {
		t.Fatal("uploaded file differs")
	}
	if fi, _ := os.Stat(filepath.Join(e.root, "in/big.bin")); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want the source's 0644", fi.Mode())
	}
	start = time.Now()
	dst := filepath.Join(dir, "back.bin")
	if err := Get(ctx, e.open, "in/big.bin", dst, nil); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	if tr := e.waitTransfer(t); tr.Err != nil || tr.Bytes != size || tr.Op != OpGet {
		t.Fatalf("host report %+v", tr)
	}
	if got := fileSum(t, dst); got != want {
		t.Fatal("downloaded file differs")
	}
	noTemps(t, dir)
	noTemps(t, filepath.Join(e.root, "in"))
	mb := float64(size) / (1 << 20)
	t.Logf("%d MiB: put %v (%.0f MiB/s), get %v (%.0f MiB/s)", size>>20, up, mb/up.Seconds(), down, mb/down.Seconds())
}

func TestGetIntoDirectory(t *testing.T) {
	e := newEnv(t, Config{})
	os.WriteFile(filepath.Join(e.root, "a.txt"), []byte("hello"), 0o600)
	dir := t.TempDir()
	if err := Get(context.Background(), e.open, "a.txt", dir, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}
	// An empty file works too.
	os.WriteFile(filepath.Join(e.root, "empty"), nil, 0o600)
	if err := Get(context.Background(), e.open, "empty", dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := Put(context.Background(), e.open, filepath.Join(dir, "empty"), "sub/", nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(e.root, "sub/empty")); err != nil || fi.Size() != 0 {
		t.Fatal(fi, err)
	}
}

// cancelAfter returns a progress func that cancels once done passes half of the total.
func cancelAfter(cancel context.CancelFunc) ProgressFunc {
	return func(done, total int64) {
		if done > total/2 {
			cancel()
		}
	}
}

func TestPutKilledHalfway(t *testing.T) {
	e := newEnv(t, Config{})
	src := filepath.Join(t.TempDir(), "src.bin")
	writeRandom(t, src, 32<<20, 2)
	// A previous version exists: it must survive untouched.
	os.WriteFile(filepath.Join(e.root, "keep.bin"), []byte("old"), 0o644)

	for _, name := range []string{"new.bin", "keep.bin"} {
		ctx, cancel := context.WithCancel(context.Background())
		err := Put(ctx, e.open, src, name, cancelAfter(cancel))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("put %s: %v, want context.Canceled", name, err)
		}
		tr := e.waitTransfer(t)
		if tr.Err == nil || !errors.Is(tr.Err, ErrAborted) {
			t.Fatalf("host report %+v, want aborted", tr)
		}
		t.Logf("host: %v", tr.Err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "new.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("new.bin exists after a cut upload: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.root, "keep.bin")); string(b) != "old" {
		t.Errorf("keep.bin is %d bytes after a cut upload, want the old content", len(b))
	}
	noTemps(t, e.root)
}

func TestGetKilledHalfway(t *testing.T) {
	e := newEnv(t, Config{})
	writeRandom(t, filepath.Join(e.root, "big.bin"), 32<<20, 3)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	err := Get(ctx, e.open, "big.bin", filepath.Join(dir, "big.bin"), cancelAfter(cancel))
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("get: %v, want context.Canceled", err)
	}
	if tr := e.waitTransfer(t); tr.Err == nil {
		t.Fatalf("host reports success for a cut download: %+v", tr)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial download under the final name: %v", err)
	}
	noTemps(t, dir)
}

// TestStreamCutByPeer closes the raw stream mid-way without a done frame, as a crashed viewer
// would, rather than through the client code.
func TestStreamCutByPeer(t *testing.T) {
	e := newEnv(t, Config{})
	h := Header{Op: OpPut, Size: 1 << 20, Path: "cut.bin"}
	p, _ := h.Encode()
	c, err := e.open(context.Background(), mux.Request{Kind: mux.KindFilePut, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readStatus(c); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, frameHeader+1000)
	if err := writeData(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if tr := e.waitTransfer(t); !errors.Is(tr.Err, ErrAborted) || tr.Bytes != 1000 {
		t.Fatalf("host report %+v", tr)
	}
	if _, err := os.Stat(filepath.Join(e.root, "cut.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cut.bin exists: %v", err)
	}
	noTemps(t, e.root)
}

func TestChecksumMismatch(t *testing.T) {
	e := newEnv(t, Config{})
	h := Header{Op: OpPut, Size: 3, Path: "sum.bin"}
	p, _ := h.Encode()
	c, err := e.open(context.Background(), mux.Request{Kind: mux.KindFilePut, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := readStatus(c); err != nil {
		t.Fatal(err)
	}
	writeData(c, append(make([]byte, frameHeader), "abc"...))
	writeFrame(c, frameDone, make([]byte, 32))
	_, err = readStatus(c)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want a checksum error", err)
	}
	t.Log(err)
	e.waitTransfer(t)
	if _, err := os.Stat(filepath.Join(e.root, "sum.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sum.bin exists: %v", err)
	}
	noTemps(t, e.root)
}

func TestEscapesRefused(t *testing.T) {
	e := newEnv(t, Config{})
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(e.root, "link")))
	must(t, os.Symlink(outside, filepath.Join(e.root, "linkdir")))
	must(t, os.Symlink("../"+filepath.Base(outside), filepath.Join(e.root, "rel")))
	local := filepath.Join(t.TempDir(), "x")
	os.WriteFile(local, []byte("payload"), 0o644)
	ctx := context.Background()

	for _, tc := range []struct {
		op, path, want string
	}{
		{"get", "../x", "path ../x leaves the host's file root; paths are relative to deskport-files"},
		{"put", "../x", "path ../x leaves the host's file root"},
		{"put", "a/../../x", "leaves the host's file root"},
		{"get", "/etc/passwd", "path /etc/passwd is absolute; paths are relative to deskport-files"},
		{"put", "/tmp/x", "is absolute"},
		{"list", "..", "leaves the host's file root"},
		{"get", "link", "path link leads outside the host's file root through a symlink"},
		{"put", "link", "leads outside the host's file root through a symlink"},
		{"get", "linkdir/secret", "leads outside the host's file root through a symlink"},
		{"put", "linkdir/planted", "leads outside the host's file root"},
		{"put", "linkdir/sub/planted", "leads outside the host's file root"},
		{"list", "linkdir", "leads outside the host's file root"},
		{"get", "rel/secret", "leads outside the host's file root"},
	} {
		var err error
		switch tc.op {
		case "get":
			err = Get(ctx, e.open, tc.path, filepath.Join(t.TempDir(), "out"), nil)
		case "put":
			err = Put(ctx, e.open, local, tc.path, nil)
		case "list":
			_, err = List(ctx, e.open, tc.path)
		}
		if !errors.Is(err, ErrOutsideRoot) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v; want ErrOutsideRoot saying %q", tc.op, tc.path, err, tc.want)
		}
		if tr := e.waitTransfer(t); tr.Err == nil {
			t.Errorf("%s %s: host reports success", tc.op, tc.path)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Error("the file outside the root was changed")
	}
	des, _ := os.ReadDir(outside)
	if len(des) != 1 {
		t.Errorf("files appeared outside the root: %v", des)
	}
	// A symlink that stays inside the root is followed.
	os.WriteFile(filepath.Join(e.root, "real"), []byte("inside"), 0o644)
	must(t, os.Symlink("real", filepath.Join(e.root, "alias")))
	out := filepath.Join(t.TempDir(), "alias")
	if err := Get(ctx, e.open, "alias", out, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "inside" {
		t.Errorf("got %q", b)
	}
}

func TestOverwrite(t *testing.T) {
	e := newEnv(t, Config{})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("first version"), 0o600)
	os.WriteFile(b, []byte("second"), 0o755)
	ctx := context.Background()
	must(t, Put(ctx, e.open, a, "doc.txt", nil))
	e.waitTransfer(t)
	dst := filepath.Join(e.root, "doc.txt")
	before, _ := os.Stat(dst)
	// Keep the old file open: an atomic replace leaves its content intact for readers.
	old, err := os.Open(dst)
	must(t, err)
	defer old.Close()
	must(t, Put(ctx, e.open, b, "doc.txt", nil))
	e.waitTransfer(t)
	if got, _ := os.ReadFile(dst); string(got) != "second" {
		t.Errorf("got %q after overwrite", got)
	}
	after, _ := os.Stat(dst)
	if os.SameFile(before, after) {
		t.Error("overwrite wrote in place; want a new file renamed over the old one")
	}
	if after.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755 from the source", after.Mode())
	}
	buf := make([]byte, 64)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "first version" {
		t.Errorf("a reader of the old file saw %q", buf[:n])
	}
	err = PutNew(ctx, e.open, a, "doc.txt", nil)
	if !errors.Is(err, ErrExists) {
		t.Errorf("PutNew over an existing file: %v, want ErrExists", err)
	}
	e.waitTransfer(t)
	// A directory is never replaced.
	os.Mkdir(filepath.Join(e.root, "d"), 0o755)
	if err := Put(ctx, e.open, a, "d", nil); !errors.Is(err, ErrNotRegular) {
		t.Errorf("put over a directory: %v", err)
	}
	e.waitTransfer(t)
	noTemps(t, e.root)
}

func TestTooLarge(t *testing.T) {
	e := newEnv(t, Config{MaxFileSize: 1000})
	dir := t.TempDir()
	ok, big := filepath.Join(dir, "ok"), filepath.Join(dir, "big")
	writeRandom(t, ok, 1000, 4)
	writeRandom(t, big, 1001, 5)
	ctx := context.Background()
	must(t, Put(ctx, e.open, ok, "ok", nil))
	e.waitTransfer(t)
	err := Put(ctx, e.open, big, "big", nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1001 bytes; the host accepts files up to 1000 bytes") {
		t.Fatalf("got %v", err)
	}
	if tr := e.waitTransfer(t); tr.Bytes != 0 {
		t.Errorf("host received %d bytes of a refused file", tr.Bytes)
	}
	if _, err := os.Stat(filepath.Join(e.root, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("big exists")
	}
	noTemps(t, e.root)
}

func TestList(t *testing.T) {
	e := newEnv(t, Config{})
	os.WriteFile(filepath.Join(e.root, "b.txt"), []byte("12345"), 0o640)
	os.Mkdir(filepath.Join(e.root, "a-dir"), 0o755)
	os.WriteFile(filepath.Join(e.root, "a-dir", "inner"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(e.root, ".b.txt.deskport-0123456789ab.part"), []byte("partial"), 0o600)
	must(t, os.Symlink("b.txt", filepath.Join(e.root, "c-link")))
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(filepath.Join(e.root, "b.txt"), mt, mt)
	ctx := context.Background()

	got, err := List(ctx, e.open, "")
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Name != "a-dir" || !got[0].Mode.IsDir() {
		t.Errorf("entry 0: %+v", got[0])
	}
	if got[1].Name != "b.txt" || got[1].Size != 5 || got[1].Mode != 0o640 || !got[1].ModTime.Equal(mt) {
		t.Errorf("entry 1: %+v", got[1])
	}
	if got[2].Name != "c-link" || got[2].Mode&fs.ModeSymlink == 0 {
		t.Errorf("entry 2: %+v", got[2])
	}
	e.waitTransfer(t)
	sub, err := List(ctx, e.open, "a-dir")
	must(t, err)
	if len(sub) != 1 || sub[0].Name != "inner" {
		t.Errorf("a-dir: %+v", sub)
	}
	e.waitTransfer(t)
	if _, err := List(ctx, e.open, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope does not exist in deskport-files") {
		t.Errorf("list nope: %v", err)
	}
	e.waitTransfer(t)
	if _, err := List(ctx, e.open, "b.txt"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("list a file: %v", err)
	}
	e.waitTransfer(t)
	if err := Get(ctx, e.open, "a-dir", t.TempDir(), nil); !errors.Is(err, ErrNotRegular) {
		t.Errorf("get a directory: %v", err)
	}
	e.waitTransfer(t)
}

func TestMaxListEntries(t *testing.T) {
	e := newEnv(t, Config{MaxListEntries: 3})
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		os.WriteFile(filepath.Join(e.root, n), nil, 0o644)
	}
	got, err := List(context.Background(), e.open, ".")
	must(t, err)
	if len(got) != 3 {
		t.Errorf("got %d entries, want 3", len(got))
	}
	e.waitTransfer(t)
}

func TestGetMissing(t *testing.T) {
	e := newEnv(t, Config{})
	dir := t.TempDir()
	err := Get(context.Background(), e.open, "missing.txt", dir, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	e.waitTransfer(t)
	noTemps(t, dir)
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("viewer dir has %v", des)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestControlCharactersRefused: the host creates, serves and lists no path with a control
// character, so no upload can plant a name that rewrites a terminal.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t, Config{})
	local := filepath.Join(t.TempDir(), "x")
	os.WriteFile(local, []byte("payload"), 0o644)
	ctx := context.Background()
	for _, tc := range []struct{ op, path string }{
		{"put", "evil\x1b]0;pwned\x07.txt"},
		{"put", "dir\r/x"},
		{"put", "csi\u009b2J"},
		{"put", "del\x7f"},
		{"get", "a\nb"},
		{"list", "d\x1b[2J"},
	} {
		var err error
		switch tc.op {
		case "get":
			err = Get(ctx, e.open, tc.path, filepath.Join(t.TempDir(), "out"), nil)
		case "put":
			err = Put(ctx, e.open, local, tc.path, nil)
		case "list":
			_, err = List(ctx, e.open, tc.path)
		}
		if err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("%s %q: %v; want a refusal naming the control character", tc.op, tc.path, err)
		}
		e.waitTransfer(t)
	}
	des, _ := os.ReadDir(e.root)
	if len(des) != 0 {
		t.Errorf("the root holds %v after refused uploads", des)
	}
}
