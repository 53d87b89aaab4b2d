package rendezvous

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// defaultDialAdvice is what an unreachable rendezvous's error ends with when nothing more
// specific is known.
const defaultDialAdvice = "check --rendezvous or DESKPORT_RENDEZVOUS"

// dialAdvice says what to do about a failed WebSocket dial to the rendezvous at display (its
// base URL), when the cause is one a person can fix from the error alone: a certificate this
// machine does not trust, one for another name or out of date, or http and https swapped.
// Otherwise it returns defaultDialAdvice.
func dialAdvice(err error, display string, status int, body string) string {
	u, _ := url.Parse(display)
	host := display
	if u != nil && u.Host != "" {
		host = u.Hostname()
	}
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return "the rendezvous's certificate is not signed by a certificate authority this machine trusts. " +
			"If it comes from a private CA (or is self-signed), point SSL_CERT_FILE at that CA's certificate (PEM) when starting host and viewer; " +
			"if it is from a public CA, the server is probably not sending its intermediate certificates: " +
			"give the rendezvous --tls-cert with the full chain (the certificate, then its intermediates, like certbot's fullchain.pem)"
	case errors.As(err, &name):
		names := certNames(name.Certificate)
		if names == "" {
			return fmt.Sprintf("the rendezvous's certificate does not name %s: use the name it was issued for in the URL, or give the server a certificate for %s", host, host)
		}
		return fmt.Sprintf("the rendezvous's certificate is for %s, not %s: use one of those names in the URL (--rendezvous, DESKPORT_RENDEZVOUS), or give the server a certificate that names %s", names, host, host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		when := ""
		if c := invalid.Cert; c != nil {
			when = fmt.Sprintf(" (valid %s to %s; this machine's clock says %s)", c.NotBefore.UTC().Format(time.RFC3339),
				c.NotAfter.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		}
		return "the rendezvous's certificate has expired or is not valid yet" + when +
			": renew it (the rendezvous re-reads --tls-cert and --tls-key when they change), or set this machine's clock right"
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		if u != nil && (u.Scheme == "https" || u.Scheme == "wss") {
			return fmt.Sprintf("the server at %s answers plain http, not HTTPS: use http://%s in --rendezvous (or DESKPORT_RENDEZVOUS), or start the rendezvous with --tls-cert/--tls-key or --acme", u.Host, u.Host)
		}
	case status == 400 && strings.Contains(body, "HTTP request to an HTTPS server"):
		if u != nil {
			return fmt.Sprintf("the rendezvous at %s serves HTTPS: use https://%s in --rendezvous (or DESKPORT_RENDEZVOUS)", u.Host, u.Host)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens at %s: check that the rendezvous runs there and on that port (--rendezvous, DESKPORT_RENDEZVOUS)", hostPort(u, display))
	case isTimeout(err):
		return fmt.Sprintf("nothing answered from %s: check that the rendezvous runs there, and that no firewall (ufw, a cloud security group) drops that TCP port on the way", hostPort(u, display))
	}
	return defaultDialAdvice
}

// hostPort is the host:port the URL dials (the scheme's port when it names none).
func hostPort(u *url.URL, display string) string {
	if u == nil || u.Host == "" {
		return display
	}
	if u.Port() != "" {
		return u.Host
	}
	port := "443"
	if u.Scheme == "http" || u.Scheme == "ws" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// isTimeout reports a dial or handshake that timed out (a dropped SYN), not a context the
// caller cancelled.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.Canceled)
}

// certNames lists the DNS names and IP addresses a certificate is for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" && net.ParseIP(c.Subject.CommonName) == nil {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}
