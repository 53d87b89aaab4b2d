package rendezvous

import (
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

// certRecheck is how often CertFiles looks at its files for a renewed certificate.
const certRecheck = time.Minute

// CertFiles serves a certificate and key from PEM files (a certbot or a corporate CA's) and
// picks up a renewal by itself: at most once a minute, a handshake looks at the files'
// modification times and loads them again when they changed. A renewal that does not load
// (a half-written file) keeps the old pair and is logged.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	modCert time.Time
	modKey  time.Time
	checked time.Time
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
	}
	return c, nil
}

func (c *CertFiles) load() error {
	ci, err1 := os.Stat(c.certFile)
	ki, err2 := os.Stat(c.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("rendezvous: TLS certificate: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("rendezvous: TLS certificate %s with key %s: %w (both PEM; the key must match the first certificate, which must be the server's own, followed by its intermediates)", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("rendezvous: TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.mu.Lock()
	c.cert, c.modCert, c.modKey, c.checked = &pair, ci.ModTime(), ki.ModTime(), time.Now()
	c.mu.Unlock()
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	cert, stale := c.cert, time.Since(c.checked) > certRecheck
	if stale {
		c.checked = time.Now()
	}
	modCert, modKey := c.modCert, c.modKey
	c.mu.Unlock()
	if stale {
		ci, err1 := os.Stat(c.certFile)
		ki, err2 := os.Stat(c.keyFile)
		if err1 == nil && err2 == nil && (!ci.ModTime().Equal(modCert) || !ki.ModTime().Equal(modKey)) {
			if err := c.load(); err != nil {
				c.log.Error("a changed TLS certificate does not load; still serving the old one", "err", err)
			} else {
				c.log.Info("loaded a renewed TLS certificate", "file", c.certFile)
				c.mu.Lock()
				cert = c.cert
				c.mu.Unlock()
			}
		}
	}
	return cert, nil
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
