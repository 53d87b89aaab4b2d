package rendezvous

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// certRecheck is how often CertFiles looks at its files for a renewed certificate; a variable
// for tests.
var certRecheck = time.Minute

// CertFiles serves a certificate and key from PEM files (a certbot or a corporate CA's) and
// picks up a renewal by itself: at most once a minute, a handshake reads the files and loads
// them again when their bytes changed (modification times are too coarse to tell two writes
// apart). A renewal that does not load (a half-written file) keeps the old pair and is logged.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certPEM  []byte
	keyPEM   []byte
	checked  time.Time
	reported bool // a failed reload was logged; log the next failure only after a success
}

// LoadCertFiles loads the pair once, so that a wrong path or a key that does not match the
// certificate stops the program at start rather than at the first handshake.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("rendezvous: give both --tls-cert and --tls-key (PEM files)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	if leaf := c.cert.Leaf; time.Now().After(leaf.NotAfter) {
		log.Warn("the TLS certificate has expired; browsers and hosts will refuse it", "not_after", leaf.NotAfter, "file", certFile)
	} else {
		c.checkChain()
	}
	return c, nil
}

// chainRoots are the roots checkChain trusts; nil means this machine's (tests set others).
var chainRoots *x509.CertPool

// checkChain says at start when this machine cannot link the certificate to a CA it trusts
// with the intermediates the file holds. Hosts and viewers (Go's verifier, like curl's) do not
// fetch missing intermediates the way browsers do, so a file with the server's certificate
// alone — certbot's cert.pem instead of fullchain.pem — works in a browser and fails for every
// host: a warning. A private CA's certificate fails here too, which is expected: a note that
// the clients need its root.
func (c *CertFiles) checkChain() {
	leaf := c.cert.Leaf
	inter := x509.NewCertPool()
	for _, der := range c.cert.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{Intermediates: inter, Roots: chainRoots})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		return
	}
	// A public CA's certificate names where its issuer's certificate is (AIA "CA Issuers",
	// which browsers follow); a private CA's rarely does.
	if len(c.cert.Certificate) == 1 && len(leaf.IssuingCertificateURL) > 0 {
		c.log.Warn("the TLS certificate file holds only the server's certificate, without the intermediate certificates its CA signs through: "+
			"put them after it in the file (certbot's fullchain.pem, not cert.pem), or hosts and viewers will refuse it (browsers fetch what is missing, so the page may still work)",
			"file", c.certFile, "issuer", leaf.Issuer.String(), "issuer_url", leaf.IssuingCertificateURL[0])
		return
	}
	c.log.Info("this machine does not trust the TLS certificate's CA (a private CA?): hosts and viewers need SSL_CERT_FILE pointing at its root, and browsers need it installed; "+
		"if a public CA issued it, put its intermediate certificates after it in the file",
		"file", c.certFile, "issuer", leaf.Issuer.String())
}

func (c *CertFiles) load() error {
	certPEM, err1 := os.ReadFile(c.certFile)
	keyPEM, err2 := os.ReadFile(c.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("rendezvous: TLS certificate: %w", err)
	}
	return c.loadPEM(certPEM, keyPEM)
}

func (c *CertFiles) loadPEM(certPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("rendezvous: TLS certificate %s with key %s: %w (both PEM; the key must match the first certificate, which must be the server's own, followed by its intermediates)", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("rendezvous: TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.mu.Lock()
	c.cert, c.certPEM, c.keyPEM, c.checked, c.reported = &pair, certPEM, keyPEM, time.Now(), false
	c.mu.Unlock()
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	cert, stale := c.cert, time.Since(c.checked) >= certRecheck
	if stale {
		c.checked = time.Now()
	}
	oldCert, oldKey := c.certPEM, c.keyPEM
	c.mu.Unlock()
	if !stale {
		return cert, nil
	}
	certPEM, err1 := os.ReadFile(c.certFile)
	keyPEM, err2 := os.ReadFile(c.keyFile)
	if err1 != nil || err2 != nil || (bytes.Equal(certPEM, oldCert) && bytes.Equal(keyPEM, oldKey)) {
		return cert, nil // unreadable for a moment, or unchanged: keep serving what we have
	}
	if err := c.loadPEM(certPEM, keyPEM); err != nil {
		c.mu.Lock()
		report := !c.reported
		c.reported = true
		c.mu.Unlock()
		if report {
			c.log.Error("a changed TLS certificate does not load; still serving the old one", "err", err)
		}
		return cert, nil
	}
	c.log.Info("loaded a renewed TLS certificate", "file", c.certFile)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

// Leaf is the server certificate currently served.
func (c *CertFiles) Leaf() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert.Leaf
}

// Names lists the names the certificate is for, as rendezvous names: its DNS names (without
// wildcards, which name no one host) and IP addresses (IPv6 in brackets).
func (c *CertFiles) Names() []string {
	return CertNames(c.Leaf())
}

// CertNames lists a certificate's DNS names (without wildcards) and IP addresses, in the form
// Config.PublicHosts takes.
func CertNames(leaf *x509.Certificate) []string {
	var out []string
	for _, d := range leaf.DNSNames {
		if !strings.Contains(d, "*") {
			out = append(out, strings.ToLower(d))
		}
	}
	for _, ip := range leaf.IPAddresses {
		if ip.To4() == nil {
			out = append(out, "["+ip.String()+"]")
		} else {
			out = append(out, ip.String())
		}
	}
	return out
}
