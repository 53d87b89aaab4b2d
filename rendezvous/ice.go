package rendezvous

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/turncred"
)

// DefaultCredentialTTL is how long minted TURN credentials may open a new allocation.
const DefaultCredentialTTL = 10 * time.Minute

// ICEConfig describes the STUN and TURN servers the rendezvous hands out beyond the fixed
// Config.ICEServers: its own (built-in) ones, whose URLs name the address each client reached
// the rendezvous at, and external TURN servers that share its secret. Every session gets fresh
// TURN REST credentials (package turncred); nothing here is logged.
type ICEConfig struct {
	// STUNPort is the UDP port of the built-in STUN server; 0 means none.
	STUNPort int
	// TURNPort is the port of the built-in TURN server over UDP and TCP; 0 means none.
	TURNPort int
	// TURNTLSPort is the port of the built-in TURN over TLS; 0 means none.
	TURNTLSPort int
	// TURNTLSHost, when set, names TURN over TLS in place of the host name the client used:
	// for a TLS relay on a second address (port 443 beside the HTTPS server), by a name the
	// certificate holds.
	TURNTLSHost string
	// PublicHost, when set, names the built-in STUN and TURN servers in place of the host
	// name the client used to reach the rendezvous (TURN over TLS keeps that name, which is
	// the one its certificate holds). Set it when the rendezvous sits behind a proxy on
	// another machine, or when clients reach it by an address other than the relay's.
	PublicHost string
	// Secret is the TURN REST shared secret: the built-in relay's and any external server's.
	Secret []byte
	// CredentialTTL is how long minted credentials may open allocations. Default 10 minutes.
	CredentialTTL time.Duration
	// External lists other STUN/TURN servers (for example a coturn with use-auth-secret).
	// Each turn: or turns: entry without a username gets the session's minted credentials.
	External []ICEServer
}

func (c *ICEConfig) validate(static int) error {
	var errs []error
	for name, p := range map[string]int{"STUNPort": c.STUNPort, "TURNPort": c.TURNPort, "TURNTLSPort": c.TURNTLSPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("ICE.%s %d is not a port", name, p))
		}
	}
	needSecret := c.TURNPort != 0 || c.TURNTLSPort != 0
	for _, s := range c.External {
		if s.Username == "" && isTURN(s) {
			needSecret = true
		}
	}
	if needSecret && len(c.Secret) < turncred.MinSecretBytes {
		errs = append(errs, fmt.Errorf("ICE: handing out TURN credentials needs a shared secret of at least %d bytes (rendezvous --turn-secret-file)", turncred.MinSecretBytes))
	}
	if c.CredentialTTL < 0 {
		errs = append(errs, fmt.Errorf("ICE.CredentialTTL is negative (%v)", c.CredentialTTL))
	}
	if n := static + len(c.External) + 2; n > signaling.MaxICEServers {
		errs = append(errs, fmt.Errorf("ICE: %d ICE servers in all, at most %d", n, signaling.MaxICEServers))
	}
	if len(c.External) > 0 {
		if err := (&signaling.Message{Type: signaling.TypeRegistered, HostID: "aaaaaaaaaaaaaaaaaaaaaaaa", ICEServers: c.External}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ICE.External: %w", err))
		}
	}
	if c.PublicHost != "" {
		if _, err := netip.ParseAddr(c.PublicHost); err != nil && !validHostName(c.PublicHost) {
			errs = append(errs, fmt.Errorf("ICE.PublicHost %q is not an IP address or host name", c.PublicHost))
		}
	}
	return errors.Join(errs...)
}

func isTURN(s ICEServer) bool {
	for _, u := range s.URLs {
		if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
			return true
		}
	}
	return false
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// hostOnly is the host name or IP of a Host header, without port and brackets, or "" when it
// is neither (the header is the client's to choose: it must not make the server build a URL
// that breaks the message limits).
func hostOnly(hostport string) string {
	h := strings.Trim(hostport, "[]")
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone("").String()
	}
	if validHostName(h) {
		return h
	}
	return ""
}

// servers returns the ICE servers for one end: static, then built-in, then external. reach is
// the host name the client used to reach the rendezvous; session is empty before a session
// exists, in which case no TURN server is listed (a credential belongs to a session).
func (c *ICEConfig) servers(static []ICEServer, reach, session string, now time.Time) []ICEServer {
	out := append([]ICEServer(nil), static...)
	if c == nil {
		return out
	}
	host := c.PublicHost
	if host == "" {
		host = reach
	}
	var user, pass string
	if session != "" && len(c.Secret) > 0 {
		ttl := c.CredentialTTL
		if ttl == 0 {
			ttl = DefaultCredentialTTL
		}
		user, pass = turncred.Mint(c.Secret, session, now, ttl)
	}
	if host != "" && c.STUNPort != 0 {
		out = append(out, ICEServer{URLs: []string{"stun:" + net.JoinHostPort(host, strconv.Itoa(c.STUNPort))}})
	}
	if user != "" && host != "" && (c.TURNPort != 0 || c.TURNTLSPort != 0) {
		var urls []string
		if c.TURNPort != 0 {
			hp := net.JoinHostPort(host, strconv.Itoa(c.TURNPort))
			urls = append(urls, "turn:"+hp+"?transport=udp", "turn:"+hp+"?transport=tcp")
		}
		if c.TURNTLSPort != 0 {
			name := c.TURNTLSHost
			if name == "" {
				name = reach
			}
			if name == "" {
				name = host
			}
			urls = append(urls, "turns:"+net.JoinHostPort(name, strconv.Itoa(c.TURNTLSPort))+"?transport=tcp")
		}
		out = append(out, ICEServer{URLs: urls, Username: user, Credential: pass})
	}
	for _, s := range c.External {
		if s.Username == "" && isTURN(s) {
			if user == "" {
				continue
			}
			s.Username, s.Credential = user, pass
		}
		out = append(out, s)
	}
	return out
}
