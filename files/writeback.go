package files

import (
	"os"
)

// writebackStep is how many bytes a receiver writes between two requests to the kernel to
// start writing them to disk.
const writebackStep = 8 << 20

// Hooks for the tests: how a range's writeback is started and how a file is flushed.
var (
	startWriteback = startFileWriteback // (f, off, n): start writing [off, off+n) to disk, do not wait
	syncFile       = (*os.File).Sync
)

// durableWriter writes a received file and has the kernel write each writebackStep bytes to
// disk while the transfer goes on, so that the fsync at the end (finish) waits for the last
// few MiB instead of the whole file. A copy still reports success only after that fsync: the
// early writeback changes when the disk works, not what is promised.
type durableWriter struct {
	f       *os.File
	written int64 // bytes written
	started int64 // bytes whose writeback has been started
}

func (w *durableWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.written += int64(n)
	if w.written-w.started >= writebackStep {
		// Failure only loses the overlap; finish's fsync reports real write errors.
		_ = startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}
