package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testaddr"
	"github.com/deskport/deskport/internal/testca"
)

// TestRendezvousCertificateProblemsExplained: a rendezvous on another machine (a network
// namespace) serves HTTPS, and hosts and viewers meet the certificate problems people meet
// when they set one up. Each error says what is wrong and what to do about it, not only
// "check --rendezvous": a private CA's certificate that this machine does not trust
// (SSL_CERT_FILE), a URL with a name the certificate lacks, an expired certificate, http
// and https swapped either way, and a port nothing listens on.
func TestRendezvousCertificateProblemsExplained(t *testing.T) {
	ns := testaddr.NewNamespace(t)
	dir := t.TempDir()
	ca := testca.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, dir, "rv.reach.test", ns.Inside.String())
	nameDir := filepath.Join(dir, "name")
	os.Mkdir(nameDir, 0o755)
	nameCert, nameKey, _ := ca.WriteFiles(t, nameDir, "rv.reach.test")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	expiredDir := filepath.Join(dir, "expired")
	os.Mkdir(expiredDir, 0o755)
	expiredCert, expiredKey := writeExpiredCert(t, expiredDir, ns.Inside.String())

	listen := func(args ...string) string {
		rv := startWith(t, nil, ns.Command(), "rendezvous", append([]string{"--listen", net.JoinHostPort(ns.Inside.String(), "0"), "--stun-listen", "off"}, args...)...)
		_, port, _ := net.SplitHostPort(rv.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1])
		return net.JoinHostPort(ns.Inside.String(), port)
	}
	tlsAddr := listen("--tls-cert", certFile, "--tls-key", keyFile)
	nameAddr := listen("--tls-cert", nameCert, "--tls-key", nameKey)
	expiredAddr := listen("--tls-cert", expiredCert, "--tls-key", expiredKey)
	plainAddr := listen()

	viewer := func(url string, env ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		home := t.TempDir()
		cmd := exec.CommandContext(ctx, bin("viewer"), "forward", "aaaaaaaaaaaaaaaaaaaaaaaa", "-L", "127.0.0.1:0:127.0.0.1:9",
			"--rendezvous", url, "--key", filepath.Join(home, "viewer.key"))
		cmd.Env = append(append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t), "HOME="+home, "SSL_CERT_FILE="), env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("viewer forward via %s succeeded:\n%s", url, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name, url string
		env       []string
		want      []string
	}{
		{"untrusted CA", "https://" + tlsAddr, nil, []string{"not signed by a certificate authority this machine trusts", "SSL_CERT_FILE", "intermediate"}},
		{"name not in the certificate", "https://" + nameAddr, []string{"SSL_CERT_FILE=" + caFile}, []string{"certificate is for rv.reach.test, not " + ns.Inside.String(), "use one of those names"}},
		{"expired", "https://" + expiredAddr, []string{"SSL_CERT_FILE=" + expiredCert}, []string{"expired or is not valid yet", "renew it", "clock"}},
		{"http to an HTTPS server", "http://" + tlsAddr, nil, []string{"serves HTTPS: use https://" + tlsAddr}},
		{"https to a plain http server", "https://" + plainAddr, nil, []string{"answers plain http, not HTTPS: use http://" + plainAddr, "--tls-cert", "--acme"}},
		{"nothing on the port", "http://" + net.JoinHostPort(ns.Inside.String(), "9"), nil, []string{"nothing listens at " + net.JoinHostPort(ns.Inside.String(), "9"), "rendezvous runs there"}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			out := viewer(tc.url, tc.env...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the viewer's error lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "check --rendezvous or DESKPORT_RENDEZVOUS") {
				t.Errorf("the viewer's error gives the generic advice instead of the fix:\n%s", out)
			}
		})
	}

	// The host, which retries, logs the same advice.
	host := startWith(t, []string{"SSL_CERT_FILE="}, nil, "host", "--rendezvous", "https://"+tlsAddr, "--no-desktop",
		"--key", filepath.Join(dir, "host.key"), "--audit-log", "", "--files-root", "")
	host.waitFor(`rendezvous connection failed.*SSL_CERT_FILE`, 30*time.Second)
}

// writeExpiredCert writes a self-signed certificate for ip that expired an hour ago, and its key.
func writeExpiredCert(t *testing.T, dir, ip string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: ip},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
