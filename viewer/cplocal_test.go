package viewer

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyChecksTheLocalFileFirst: `viewer cp` of a local file that is missing, unreadable as a
// file (a directory) says so before it connects; before, it reached the rendezvous and the
// host first, and with the rendezvous down the user read about the rendezvous instead.
func TestCopyChecksTheLocalFileFirst(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ src, want string }{
		{filepath.Join(dir, "missing.txt"), "no such file"},
		{dir, "not a regular file"},
	} {
		cmd := NewCommand()
		cmd.SetArgs([]string{"cp", c.src, "abcdefghijklmnopqrstuvwx:inbox/", "--rendezvous", "http://127.0.0.1:1", "--no-progress", "--key", filepath.Join(dir, "viewer.key")})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "rendezvous") {
			t.Errorf("cp %s: %v; want %q before connecting", c.src, err, c.want)
		}
	}
}
