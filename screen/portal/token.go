package portal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the restore token's file in the host's state directory, next to its key.
const TokenFileName = "portal-restore-token"

// LoadToken reads a restore token saved by SaveToken; a missing file is no token.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("portal: reading the restore token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SaveToken replaces the restore token at path (mode 0600, written to a temporary file and
// renamed, so a crash leaves the old token or the new one). An empty token removes the file.
func SaveToken(path, token string) error {
	if token == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("portal: removing the restore token: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("portal: saving the restore token: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("portal: saving the restore token: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("portal: saving the restore token: %w", err)
	}
	return nil
}
