package rendezvous

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskport/deskport/internal/testca"
)

// TestCertFilesReload: a renewed certificate written over the files is served from the next
// check on; a broken renewal keeps the old one.
func TestCertFilesReload(t *testing.T) {
	old := certRecheck
	certRecheck = 0
	t.Cleanup(func() { certRecheck = old })
	dir := t.TempDir()
	ca := testca.New(t)
	certFile, keyFile, first := ca.WriteFiles(t, dir, "rv.example.com", "192.0.2.1")
	cf, err := LoadCertFiles(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Names(), " "); got != "rv.example.com 192.0.2.1" {
		t.Errorf("Names = %q", got)
	}
	serving := func() string {
		c, err := cf.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Leaf.Raw)
	}
	if serving() != string(first.Raw) {
		t.Fatal("not serving the loaded certificate")
	}
	// A renewal (certbot writes new files).
	sub := filepath.Join(dir, "new")
	os.Mkdir(sub, 0o755)
	newCert, newKey, second := ca.WriteFiles(t, sub, "rv.example.com", "*.example.com")
	for _, p := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if serving() != string(second.Raw) {
		t.Fatal("the renewed certificate is not served")
	}
	if got := strings.Join(cf.Names(), " "); got != "rv.example.com" {
		t.Errorf("Names = %q, want no wildcard", got)
	}
	// A half-written renewal: the old pair stays.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if serving() != string(second.Raw) {
		t.Fatal("a broken renewal replaced the certificate")
	}
	// A key that does not match is refused at start.
	_, otherKey, _ := ca.WriteFiles(t, t.TempDir(), "x.example.com")
	c2, _, _ := ca.WriteFiles(t, t.TempDir(), "y.example.com")
	if _, err := LoadCertFiles(c2, otherKey, nil); err == nil || !strings.Contains(err.Error(), "key must match") {
		t.Errorf("a mismatched pair loaded: %v", err)
	}
}
