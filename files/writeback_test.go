package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writebackLog records, per file name, the writeback ranges started and the fsyncs, with the
// file's size and whether its final name existed at the time of the fsync.
type writebackLog struct {
	mu     sync.Mutex
	ranges [][2]int64
	syncs  []syncSeen
}

type syncSeen struct {
	dir        bool // a directory, not the received file
	size       int64
	finalExist bool
}

// hookWriteback records what the real code asks of the disk for files whose temporary name
// starts with prefix (the real calls still happen). final is the name the file gets.
func hookWriteback(t *testing.T, prefix, final string) *writebackLog {
	log := &writebackLog{}
	oldStart, oldSync := startWriteback, syncFile
	t.Cleanup(func() { startWriteback, syncFile = oldStart, oldSync })
	mine := func(f *os.File) bool { return strings.HasPrefix(filepath.Base(f.Name()), prefix) }
	startWriteback = func(f *os.File, off, n int64) error {
		if mine(f) {
			log.mu.Lock()
			log.ranges = append(log.ranges, [2]int64{off, n})
			log.mu.Unlock()
		}
		return oldStart(f, off, n)
	}
	syncFile = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			t.Error(err)
			return err
		}
		if mine(f) || fi.IsDir() {
			_, err = os.Stat(final)
			log.mu.Lock()
			log.syncs = append(log.syncs, syncSeen{dir: fi.IsDir(), size: fi.Size(), finalExist: err == nil})
			log.mu.Unlock()
		}
		return oldSync(f)
	}
	return log
}

// check says whether a file of size bytes had its writeback started in order, writebackStep
// bytes at a time, during the transfer, was then flushed whole, once, before its rename, and
// its directory after the rename.
func (l *writebackLog) check(t *testing.T, size int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var next int64
	for _, r := range l.ranges {
		if r[0] != next || r[1] != writebackStep {
			t.Errorf("writeback of [%d, +%d) started; want [%d, +%d)", r[0], r[1], next, writebackStep)
		}
		next = r[0] + r[1]
	}
	if want := size / writebackStep * writebackStep; next != want {
		t.Errorf("writeback started for the first %d bytes of %d; want %d", next, size, want)
	}
	if len(l.syncs) != 2 || l.syncs[0].dir || !l.syncs[1].dir {
		t.Fatalf("fsyncs %+v; want the received file's, then its directory's", l.syncs)
	}
	if s := l.syncs[0]; s.size != size || s.finalExist {
		t.Errorf("fsync saw %d bytes (want %d), final name present: %v (want the rename after the fsync)", s.size, size, s.finalExist)
	}
	if !l.syncs[1].finalExist {
		t.Error("the directory was flushed before the rename")
	}
}

// TestReceiversStartWritebackDuringTheTransfer: a download and an upload each start the disk
// writes of every writebackStep bytes as they arrive (so that the last fsync does not stall
// the copy for the whole file), and still fsync the whole file before renaming it into place
// and reporting success, and flush the directory after the rename (docs/files.md).
func TestReceiversStartWritebackDuringTheTransfer(t *testing.T) {
	const size = 3*writebackStep + 12345
	e := newEnv(t, Config{})
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	want := writeRandom(t, src, size, 7)
	ctx := context.Background()

	put := hookWriteback(t, ".up.bin.deskport-", filepath.Join(e.root, "up.bin"))
	if err := Put(ctx, e.open, src, "up.bin", nil); err != nil {
		t.Fatal(err)
	}
	if tr := e.waitTransfer(t); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	put.check(t, size)
	if fileSum(t, filepath.Join(e.root, "up.bin")) != want {
		t.Fatal("uploaded file differs")
	}

	dst := filepath.Join(dir, "down.bin")
	get := hookWriteback(t, ".down.bin.deskport-", dst)
	if err := Get(ctx, e.open, "up.bin", dst, nil); err != nil {
		t.Fatal(err)
	}
	if tr := e.waitTransfer(t); tr.Err != nil {
		t.Fatal(tr.Err)
	}
	get.check(t, size)
	if fileSum(t, dst) != want {
		t.Fatal("downloaded file differs")
	}
}
