package knownhosts

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/deskport/deskport/identity"
)

func key(t *testing.T) (ed25519.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, identity.HostID(pub)
}

func TestTrustOnFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskport", "known_hosts")
	k, id := key(t)
	added, err := Pin(path, id, k)
	if err != nil || !added {
		t.Fatalf("first Pin = %v, %v; want added", added, err)
	}
	added, err = Pin(path, id, k)
	if err != nil || added {
		t.Fatalf("second Pin = %v, %v; want known", added, err)
	}
	if err := Check(path, id, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	want, _ := Line(id, k)
	if string(data) != want+"\n" {
		t.Fatalf("file %q, want %q", data, want)
	}
	if !strings.HasPrefix(want, id+" ssh-ed25519 AAAA") {
		t.Fatalf("line %q", want)
	}
}

// TestChangedKey forges an entry that pins another key under a host's ID (the only way a
// different key can meet the same ID short of a SHA-256 collision) and checks the refusal.
func TestChangedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	k, id := key(t)
	other, _ := key(t)
	forged, _ := Line(identity.HostID(other), other)
	forged = id + forged[strings.Index(forged, " "):]
	if err := os.WriteFile(path, []byte("# comment\n\n"+forged+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Check(path, id, k)
	if !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("Check = %v, want ErrKeyChanged", err)
	}
	var kc *KeyChangedError
	if !errors.As(err, &kc) || kc.Line != 3 {
		t.Fatalf("error %#v", err)
	}
	for _, s := range []string{"HAS CHANGED", id, identity.Fingerprint(k), identity.Fingerprint(other), "remove line 3 of " + path} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q:\n%s", s, err)
		}
	}
	// Nothing was appended: the pinned entry stays the only one.
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), id) != 1 {
		t.Fatalf("file changed:\n%s", data)
	}
}

func TestKeyNotForID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	k, _ := key(t)
	_, otherID := key(t)
	if _, err := Pin(path, otherID, k); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Pin = %v, want ErrKeyMismatch", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a mismatched key was recorded")
	}
	if _, err := Pin(path, otherID, k[:16]); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("short key: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	k, id := key(t)
	for _, bad := range []string{
		"justone",
		"notanid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx",
		id + " ssh-ed25519 !!!",
		id + " ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC",
	} {
		path := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(path, []byte(bad+"\n"), 0o600)
		if err := Check(path, id, k); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
}

func TestAppendsToFileWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	k1, id1 := key(t)
	l1, _ := Line(id1, k1)
	os.WriteFile(path, []byte(l1), 0o600)
	k2, id2 := key(t)
	if added, err := Pin(path, id2, k2); err != nil || !added {
		t.Fatal(added, err)
	}
	for _, c := range []struct {
		k  ed25519.PublicKey
		id string
	}{{k1, id1}, {k2, id2}} {
		if added, err := Pin(path, c.id, c.k); err != nil || added {
			t.Fatal(added, err)
		}
	}
}

// TestConcurrent pins many hosts from many goroutines, each host several times: every host is
// recorded exactly once and every line is whole.
func TestConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	const hosts, tries = 20, 5
	keys := make([]ed25519.PublicKey, hosts)
	ids := make([]string, hosts)
	for i := range keys {
		keys[i], ids[i] = key(t)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	addedCount := 0
	for i := range hosts * tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			added, err := Pin(path, ids[i%hosts], keys[i%hosts])
			if err != nil {
				t.Error(err)
			}
			if added {
				mu.Lock()
				addedCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if addedCount != hosts {
		t.Fatalf("added %d times, want %d", addedCount, hosts)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != hosts {
		t.Fatalf("%d lines, want %d:\n%s", n, hosts, data)
	}
}

func TestDefaultPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG layout only on Linux")
	}
	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg")
	t.Setenv("HOME", "/tmp/home")
	p, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if p != "/tmp/xdg/deskport/known_hosts" {
		t.Fatalf("DefaultPath = %s", p)
	}
}
