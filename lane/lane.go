// Package lane is the direct TCP lane: a TLS 1.3 connection between a viewer and a host that
// already share an authenticated WebRTC session and found each other on a direct path, for the
// bulk streams (forwards and files) to leave the SCTP association.
//
// SCTP over DTLS in user space pays a system call, a DTLS record and SCTP bookkeeping for every
// 1404-byte packet on a LAN; the kernel's TCP, with segmentation offload, moves the same bytes at
// a fraction of the CPU (docs/decisions.md, "The direct TCP lane"). The lane changes no trust:
//
//   - Each end makes a fresh self-signed certificate for the lane and tells the other its SHA-256
//     over the session's authenticated interactive channel. The TLS handshake then pins both
//     certificates (mutual authentication); nothing else is trusted.
//   - The viewer listens (on the address ICE already uses for it) and the host dials out: the
//     host opens no port. The host dials only the address ICE already exchanges packets with, so
//     a viewer cannot make it connect anywhere else.
//   - The listener takes one authenticated connection and closes; it waits at most AcceptTimeout
//     and drops at most MaxAttempts connections that fail the handshake.
//
// This package knows nothing of sessions or yamux; session/lane.go wires it up.
package lane

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"
)

// Limits and timeouts.
const (
	// Version is the offer format this code writes and reads.
	Version = 1
	// AcceptTimeout bounds how long a listener waits for the host's connection.
	AcceptTimeout = 5 * time.Second
	// DialTimeout bounds the host's TCP connect and TLS handshake.
	DialTimeout = 3 * time.Second
	// MaxAttempts is how many connections that fail the handshake a listener drops before it
	// gives up.
	MaxAttempts = 8
	// handshakeTimeout bounds one TLS handshake on the listener.
	handshakeTimeout = 2 * time.Second
	// maxAddrText is the longest "ip:port" an offer carries ("[ipv6%zone]:port" fits).
	maxAddrText = 64
	// OfferLen bounds an encoded offer.
	OfferLen = 2 + maxAddrText + sha256.Size
)

// Errors.
var (
	ErrBadOffer    = errors.New("lane: malformed offer")
	ErrPinMismatch = errors.New("lane: the peer's certificate is not the one it announced")
	ErrNoLane      = errors.New("lane: no authenticated connection arrived in time")
)

// Hash is the SHA-256 of a certificate's DER bytes.
type Hash [sha256.Size]byte

// Identity is one end's certificate for one lane.
type Identity struct {
	cert tls.Certificate
	// Hash is what the peer pins.
	Hash Hash
}

// NewIdentity makes a fresh ed25519 key and a self-signed certificate valid for a day.
func NewIdentity() (*Identity, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lane: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("lane: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "deskport lane"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("lane: certificate: %w", err)
	}
	return &Identity{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv},
		Hash: sha256.Sum256(der),
	}, nil
}

// tlsConfig returns a TLS 1.3 configuration presenting id and accepting only a peer whose
// certificate hashes to *peer at handshake time (peer is read then, so a listener can learn it
// after it started).
func (id *Identity) tlsConfig(peer func() (Hash, bool)) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		// Chains are not used: the certificate is pinned by hash in VerifyPeerCertificate.
		InsecureSkipVerify: true,
		ClientAuth:         tls.RequireAnyClientCert,
		// Every handshake is a full one, so VerifyPeerCertificate always runs (Go skips it on
		// a resumed session; a lane's configuration is used for one connection anyway).
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			want, ok := peer()
			if !ok || len(raw) != 1 {
				return ErrPinMismatch
			}
			got := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				return ErrPinMismatch
			}
			return nil
		},
	}
}

// Offer is what the viewer tells the host: where it listens and the hash of its certificate.
type Offer struct {
	Addr netip.AddrPort
	Hash Hash
}

// Encode returns the offer's wire form: version, address length, "ip:port" text, hash.
func (o Offer) Encode() []byte {
	addr := o.Addr.String()
	b := make([]byte, 0, 2+len(addr)+len(o.Hash))
	b = append(b, Version, byte(len(addr)))
	b = append(b, addr...)
	return append(b, o.Hash[:]...)
}

// DecodeOffer parses an offer; anything but exactly one well-formed offer is ErrBadOffer.
func DecodeOffer(b []byte) (Offer, error) {
	if len(b) < 2 || len(b) > OfferLen {
		return Offer{}, fmt.Errorf("%w: %d bytes", ErrBadOffer, len(b))
	}
	if b[0] != Version {
		return Offer{}, fmt.Errorf("%w: version %d, this end speaks %d", ErrBadOffer, b[0], Version)
	}
	n := int(b[1])
	if n == 0 || n > maxAddrText || len(b) != 2+n+sha256.Size {
		return Offer{}, fmt.Errorf("%w: address length %d in %d bytes", ErrBadOffer, n, len(b))
	}
	ap, err := netip.ParseAddrPort(string(b[2 : 2+n]))
	if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
		return Offer{}, fmt.Errorf("%w: address %q", ErrBadOffer, b[2:2+n])
	}
	var o Offer
	o.Addr = ap
	copy(o.Hash[:], b[2+n:])
	return o, nil
}

// Listener is the viewer's end before the host connected.
type Listener struct {
	id   *Identity
	ln   *net.TCPListener
	peer chan Hash
	addr netip.AddrPort
}

// Listen listens on ip (the viewer's end of the ICE path), port chosen by the system.
func Listen(ip netip.Addr, id *Identity) (*Listener, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("lane: listen on %s: %w", ip, err)
	}
	return &Listener{id: id, ln: ln, peer: make(chan Hash, 1),
		addr: ln.Addr().(*net.TCPAddr).AddrPort()}, nil
}

// Offer is what to send the host. A link-local address goes without its zone: the zone names
// an interface of this machine, which means nothing to the host (it dials the address with its
// own interface's zone).
func (l *Listener) Offer() Offer {
	return Offer{Addr: netip.AddrPortFrom(l.addr.Addr().WithZone(""), l.addr.Port()), Hash: l.id.Hash}
}

// Close stops listening; Accept returns.
func (l *Listener) Close() error { return l.ln.Close() }

// Accept waits for the host's connection, whose certificate must hash to peer (the host's
// answer), and closes the listener. It gives up after AcceptTimeout, MaxAttempts failed
// handshakes or when ctx ends.
func (l *Listener) Accept(ctx context.Context, peer Hash) (net.Conn, error) {
	defer l.ln.Close()
	deadline := time.Now().Add(AcceptTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { l.ln.Close() })
	defer stop()
	_ = l.ln.SetDeadline(deadline)
	cfg := l.id.tlsConfig(func() (Hash, bool) { return peer, true })
	var last error
	for range MaxAttempts {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (last refused: %v)", ErrNoLane, last)
			}
			return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
		}
		raw := newBatchConn(c)
		tc := tls.Server(raw, cfg)
		// A stranger that connects and stalls holds the listener up only this long.
		hd := time.Now().Add(handshakeTimeout)
		if deadline.Before(hd) {
			hd = deadline
		}
		_ = tc.SetDeadline(hd)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			last = fmt.Errorf("%s: %w", c.RemoteAddr(), err)
			continue
		}
		_ = tc.SetDeadline(time.Time{})
		tune(c)
		return newLaneConn(tc, raw), nil
	}
	return nil, fmt.Errorf("%w: %d connections failed the handshake (last: %v)", ErrNoLane, MaxAttempts, last)
}

// Dial is the host's end: it connects to the offer's address, presents id and accepts only the
// certificate the offer pinned.
func Dial(ctx context.Context, o Offer, id *Identity) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", o.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("lane: connect to %s: %w", o.Addr, err)
	}
	raw := newBatchConn(c)
	tc := tls.Client(raw, id.tlsConfig(func() (Hash, bool) { return o.Hash, true }))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("lane: handshake with %s: %w", o.Addr, err)
	}
	tune(c)
	return newLaneConn(tc, raw), nil
}

// tune sets what a bulk connection wants: keepalives to notice a peer that vanished, and no
// Nagle delay for the small frames (window updates, stream opens) yamux sends among the bulk.
func tune(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3})
	}
}
