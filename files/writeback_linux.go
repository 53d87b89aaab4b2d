package files

import (
	"os"

	"golang.org/x/sys/unix"
)

// startFileWriteback starts the writeback of a file range without waiting for it
// (sync_file_range with SYNC_FILE_RANGE_WRITE: no metadata, no flush of the disk's cache;
// the fsync at the end does both).
func startFileWriteback(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
