// Package knownhosts pins host keys for the viewer, the way ssh's known_hosts does. The first
// time a viewer reaches a host ID it records the key the host proved; every later connection
// must prove the same key. The file holds one line per host:
//
//	<host-id> ssh-ed25519 <base64 of the key in SSH wire format>
//
// Blank lines and lines starting with '#' are ignored. A host ID is derived from its key
// (identity.HostID), and the authentication handshake already refuses a host whose key does not
// hash to the ID the viewer asked for, so a changed key under the same ID means a SHA-256
// collision, a forged or corrupted file, or a bug: Check refuses it loudly rather than guess.
package knownhosts

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/deskport/deskport/identity"
)

var (
	// ErrKeyChanged means the host proved a different key from the one pinned for its ID.
	// The error is a *KeyChangedError with the details.
	ErrKeyChanged = errors.New("knownhosts: host key changed")
	// ErrKeyMismatch means the key does not belong to the host ID (identity.HostID(key) differs).
	ErrKeyMismatch = errors.New("knownhosts: key does not match the host ID")
	// ErrMalformed means a line of the file cannot be parsed.
	ErrMalformed = errors.New("knownhosts: malformed known_hosts line")
)

// KeyChangedError reports a pinned key that differs from the key a host just proved.
type KeyChangedError struct {
	Path   string
	Line   int
	HostID string
	Pinned ed25519.PublicKey
	Got    ed25519.PublicKey
}

func (e *KeyChangedError) Error() string {
	return fmt.Sprintf(`@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: THE KEY OF HOST %s HAS CHANGED!
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
The host proved key %s,
but %s:%d pins key %s for this host ID.
Host IDs are derived from host keys, so this should be impossible: someone may be
impersonating the host (a forged known_hosts entry or a man in the middle), or the file
is corrupted. Do not continue. If you are sure the entry is wrong, remove line %d of %s
and connect again.`, e.HostID, identity.Fingerprint(e.Got), e.Path, e.Line, identity.Fingerprint(e.Pinned), e.Line, e.Path)
}

func (e *KeyChangedError) Unwrap() error { return ErrKeyChanged }

// DefaultPath returns ~/.config/deskport/known_hosts (os.UserConfigDir on other systems).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("knownhosts: %w", err)
	}
	return filepath.Join(dir, "deskport", "known_hosts"), nil
}

// mu serialises Check within the process; a file lock serialises processes.
var mu sync.Mutex

// Check is Pin without the "added" report.
func Check(path, hostID string, key ed25519.PublicKey) error {
	_, err := Pin(path, hostID, key)
	return err
}

// Pin checks key against the entry for hostID in the file at path. With no entry it appends
// one (creating the file, mode 0600, and its directory, mode 0700) and returns added = true, so
// the caller can tell the user "added host ... to known_hosts" (trust on first use). The same
// key returns nil. A different key returns a *KeyChangedError (errors.Is ErrKeyChanged). A key
// that does not hash to hostID returns ErrKeyMismatch and records nothing. Pin is safe for
// concurrent use by goroutines and by processes sharing the file.
func Pin(path, hostID string, key ed25519.PublicKey) (added bool, err error) {
	if len(key) != ed25519.PublicKeySize {
		return false, fmt.Errorf("%w: not an ed25519 public key", ErrKeyMismatch)
	}
	if got := identity.HostID(key); got != hostID {
		return false, fmt.Errorf("%w: key %s has host ID %s, not %s", ErrKeyMismatch, identity.Fingerprint(key), got, hostID)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("knownhosts: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("knownhosts: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return false, fmt.Errorf("knownhosts: lock %s: %w", path, err)
	}
	defer unlockFile(f)
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("knownhosts: %w", err)
	}
	pinned, line, err := lookup(data, path, hostID)
	if err != nil {
		return false, err
	}
	if pinned != nil {
		if !bytes.Equal(pinned, key) {
			return false, &KeyChangedError{Path: path, Line: line, HostID: hostID, Pinned: pinned, Got: key}
		}
		return false, nil
	}
	entry, err := Line(hostID, key)
	if err != nil {
		return false, err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		entry = "\n" + entry
	}
	if _, err := f.WriteString(entry + "\n"); err != nil {
		return false, fmt.Errorf("knownhosts: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("knownhosts: write %s: %w", path, err)
	}
	return true, nil
}

// Line formats the known_hosts entry for hostID and key (without a newline).
func Line(hostID string, key ed25519.PublicKey) (string, error) {
	pk, err := ssh.NewPublicKey(key)
	if err != nil {
		return "", fmt.Errorf("knownhosts: %w", err)
	}
	return hostID + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), nil
}

// lookup finds hostID's key in data. A malformed line anywhere is an error: a file the viewer
// cannot read fully cannot be trusted to pin anything.
func lookup(data []byte, path, hostID string) (ed25519.PublicKey, int, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var found ed25519.PublicKey
	foundLine := 0
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, key, err := parseLine(text)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %s:%d: %v; fix or remove the line", ErrMalformed, path, n, err)
		}
		if id != hostID {
			continue
		}
		if found != nil && !bytes.Equal(found, key) {
			return nil, 0, &KeyChangedError{Path: path, Line: n, HostID: hostID, Pinned: key, Got: found}
		}
		if found == nil {
			found, foundLine = key, n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("knownhosts: read %s: %w", path, err)
	}
	return found, foundLine, nil
}

func parseLine(text string) (string, ed25519.PublicKey, error) {
	id, rest, ok := strings.Cut(text, " ")
	if !ok {
		return "", nil, errors.New("want <host-id> ssh-ed25519 <base64>")
	}
	id, err := identity.ParseHostID(id)
	if err != nil {
		return "", nil, fmt.Errorf("bad host ID %q", id)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return "", nil, err
	}
	if pk.Type() != ssh.KeyAlgoED25519 {
		return "", nil, fmt.Errorf("key type %s, want ssh-ed25519", pk.Type())
	}
	ck, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return "", nil, errors.New("unusable key")
	}
	key, ok := ck.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return "", nil, errors.New("not an ed25519 key")
	}
	return id, key, nil
}
