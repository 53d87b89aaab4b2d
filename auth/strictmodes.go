package auth

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkStrictModes refuses an authorized_viewers file that someone other than its owner could
// change, as OpenSSH's StrictModes does for authorized_keys: whoever can write the file, or
// replace it through its directory, can let any key in. The file and every directory from it up
// to the user's home (or only its own directory, outside home) must not be writable by group or
// others and must belong to this user or root. The error says the command that fixes it.
func checkStrictModes(path string, fi fs.FileInfo) error {
	if !haveOwners {
		return nil // Windows: ACLs, not mode bits; nothing here would mean anything
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("auth: authorized_viewers %s: %w", path, err)
	}
	if err := checkOwnerAndMode(abs, fi); err != nil {
		return err
	}
	home, _ := os.UserHomeDir()
	underHome := home != "" && strings.HasPrefix(abs, filepath.Clean(home)+string(filepath.Separator))
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("auth: authorized_viewers %s: %w", path, err)
		}
		if err := checkOwnerAndMode(dir, di); err != nil {
			return err
		}
		if !underHome || dir == filepath.Clean(home) || dir == filepath.Dir(dir) {
			return nil
		}
	}
}

func checkOwnerAndMode(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		what := "file"
		if fi.IsDir() {
			what = "directory"
		}
		return fmt.Errorf("%w: the %s %s is writable by group or others (mode %04o), so they could add a viewer key; fix it with: chmod go-w %s",
			ErrUnsafePolicy, what, path, fi.Mode().Perm(), shellQuote(path))
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 && uid != os.Getuid() {
		return fmt.Errorf("%w: %s belongs to user %d, not to this user (%d) or root, so that user could add a viewer key; fix it with: chown %d %s",
			ErrUnsafePolicy, path, uid, os.Getuid(), os.Getuid(), shellQuote(path))
	}
	return nil
}

func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@=:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
