package rendezvous

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertFilesWarnMissingIntermediates: a certificate file with only the server's certificate
// from a CA that signs through an intermediate (certbot's cert.pem rather than fullchain.pem)
// loads — browsers fetch the intermediate — but every host and viewer refuses it, so the
// rendezvous warns at start and says which file to give. The full chain does not warn; a
// private CA (no intermediates to give) gets a note about SSL_CERT_FILE instead.
func TestCertFilesWarnMissingIntermediates(t *testing.T) {
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(tmpl, parent *x509.Certificate, pub, signer *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &pub.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	now := time.Now()
	rootKey, interKey, leafKey := newKey(), newKey(), newKey()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := issue(rootT, rootT, rootKey, rootKey)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "intermediate"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	inter := issue(interT, root, interKey, rootKey)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "rv.example.com"}, DNSNames: []string{"rv.example.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IssuingCertificateURL: []string{"http://r11.ca.example/"}} // as public CAs' certificates have
	leaf := issue(leafT, inter, leafKey, interKey)
	privT := &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "rv.example.com"}, DNSNames: []string{"rv.example.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	private := issue(privT, root, leafKey, rootKey) // a private CA signing directly

	kder, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	keyFile := filepath.Join(dir, "key.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	write := func(name string, certs ...*x509.Certificate) string {
		var b bytes.Buffer
		for _, c := range certs {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	// The test root stands for a public CA this machine trusts: what matters is whether the
	// file carries the intermediate.
	roots := x509.NewCertPool()
	roots.AddCert(root)
	chainRoots = roots
	t.Cleanup(func() { chainRoots = nil })

	load := func(certFile string) string {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		if _, err := LoadCertFiles(certFile, keyFile, log); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	if got := load(write("cert.pem", leaf)); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "fullchain.pem") || !strings.Contains(got, "intermediate") {
		t.Errorf("the server's certificate alone: log %q, want a warning naming the intermediates and fullchain.pem", got)
	}
	if got := load(write("fullchain.pem", leaf, inter)); strings.Contains(got, "level=WARN") || strings.Contains(got, "SSL_CERT_FILE") {
		t.Errorf("the full chain: log %q, want nothing", got)
	}

	// A private CA this machine does not trust, signing directly: nothing to add to the file,
	// but hosts and viewers need its root.
	chainRoots = x509.NewCertPool()
	if got := load(write("private.pem", private)); strings.Contains(got, "level=WARN") || !strings.Contains(got, "SSL_CERT_FILE") {
		t.Errorf("a private CA's certificate: log %q, want a note about SSL_CERT_FILE and no warning", got)
	}
}
