package identity

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "host.key")
	k1, created, err := LoadOrCreateKey(path, "test")
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKey(path, "test")
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("second call: created=%v err=%v same=%v; want the same key loaded", created, err, k1.Equal(k2))
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateKey(path, "test"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key loaded (err %v); want a refusal that says chmod 600", err)
	}
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, _, err := LoadOrCreateKey(path, "test"); err == nil {
		t.Fatal("garbage loaded as a key")
	}
}

func TestHostID(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	id := HostID(pub)
	if len(id) != IDLen || strings.ToLower(id) != id {
		t.Fatalf("HostID %q: want %d lower-case characters", id, IDLen)
	}
	for _, typed := range []string{id, strings.ToUpper(id), " " + id[:4] + "-" + id[4:12] + " " + id[12:] + " "} {
		got, err := ParseHostID(typed)
		if err != nil || got != id {
			t.Errorf("ParseHostID(%q) = %q, %v; want %q", typed, got, err, id)
		}
	}
	for _, bad := range []string{"", "abc", id + "a", id[:23] + "1", id[:23] + "!"} {
		if _, err := ParseHostID(bad); !errors.Is(err, ErrBadHostID) {
			t.Errorf("ParseHostID(%q) err %v, want ErrBadHostID", bad, err)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if HostID(other) == id {
		t.Fatal("two keys gave the same host ID")
	}
}

func TestAuthorizedLine(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	line := AuthorizedLine(pub, "me@laptop")
	if !strings.HasPrefix(line, "ssh-ed25519 AAAA") || !strings.HasSuffix(line, " me@laptop") {
		t.Fatalf("AuthorizedLine = %q", line)
	}
	if fp := Fingerprint(pub); !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("Fingerprint = %q", fp)
	}
}
