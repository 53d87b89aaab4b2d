// Package identity holds the long-lived ed25519 keys of hosts and viewers: how they are stored on
// disk, how a host ID is derived from a public key, and how a viewer key is written as an
// authorized_viewers line.
//
// A host ID is the first 15 bytes of SHA-256 over the raw public key, in lower-case base32 without
// padding: 24 characters, 120 bits. It is derived rather than assigned so that a viewer can check,
// end to end, that the key the host proves in the authentication handshake is the one it asked
// for, whatever the rendezvous says.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// IDLen is the length of a host ID in characters.
const IDLen = 24

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadHostID is returned by ParseHostID for a string that cannot be a host ID.
var ErrBadHostID = errors.New("identity: not a host ID")

// HostID derives the host ID of a public key.
func HostID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return strings.ToLower(idEncoding.EncodeToString(sum[:15]))
}

// ParseHostID normalises a host ID typed by a person (case, spaces and dashes are ignored) and
// checks its form.
func ParseHostID(s string) (string, error) {
	s = strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(s) != IDLen {
		return "", fmt.Errorf("%w: %q has %d characters, a host ID has %d (run `host id` on the host to see it)", ErrBadHostID, s, len(s), IDLen)
	}
	if _, err := idEncoding.DecodeString(strings.ToUpper(s)); err != nil {
		return "", fmt.Errorf("%w: %q contains characters outside a-z and 2-7", ErrBadHostID, s)
	}
	return s, nil
}

// Fingerprint is the OpenSSH-style SHA256 fingerprint of a public key ("SHA256:...").
func Fingerprint(pub ed25519.PublicKey) string {
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "invalid-key"
	}
	return ssh.FingerprintSHA256(sp)
}

// AuthorizedLine formats a public key as one authorized_viewers line (OpenSSH authorized_keys
// syntax), so that `viewer id` output can be pasted into a host's file as it is.
func AuthorizedLine(pub ed25519.PublicKey, comment string) string {
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// LoadOrCreateKey reads an ed25519 private key in OpenSSH format from path, or creates one there
// (mode 0600, parent directories 0700) when the file does not exist. created reports which.
// A key file readable by group or others is refused, as ssh does, because anyone who can read it
// can impersonate the host or viewer.
func LoadOrCreateKey(path, comment string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("identity: generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, false, fmt.Errorf("identity: encode key: %w", err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("identity: create key directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("identity: create key file: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, fmt.Errorf("identity: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("identity: write key file: %w", err)
	}
	return key, true, nil
}

// LoadKey reads an existing ed25519 private key in OpenSSH format.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity: key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: key %s is readable by others (mode %04o); run `chmod 600 %s`", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read key %s: %w", path, err)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity: key %s is not an unencrypted OpenSSH private key: %w", path, err)
	}
	k, ok := raw.(*ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity: key %s is a %T, deskport needs ed25519", path, raw)
	}
	return *k, nil
}
