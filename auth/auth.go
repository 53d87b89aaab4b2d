// Package auth is deskport's end-to-end authentication handshake. It runs once DTLS is up, on a
// dedicated reliable ordered data channel, before any video, input or stream is started.
//
// The rendezvous server relays the SDP and could therefore swap the DTLS fingerprints and sit in
// the middle. The handshake defeats that by binding everything to a transcript that includes the
// SHA-256 of both DTLS certificates as each side actually sees them (Binding): a relay has
// different certificates on its two legs, so the two transcripts differ and every signature and
// MAC fails. Fresh 32-byte nonces from both sides make each transcript unique, so recorded
// messages cannot be replayed into another session.
//
// A viewer gets in one of two ways, chosen in its first message:
//
//   - trusted key: host and viewer sign the transcript with their ed25519 keys; the viewer checks
//     that the host key hashes to the host ID it asked for, the host checks the viewer key
//     against its authorized_viewers file (see ParseAuthorizedViewers);
//   - one-time code: a CPace PAKE (package auth/cpace) keyed by the code the host shows, with
//     explicit key confirmation, the viewer first. The host also signs the transcript so that the
//     viewer knows it reached the right host before it answers. Each code admits exactly one
//     attempt (see CodeStore).
//
// docs/auth.md describes the messages, the transcript and the limits.
package auth

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"
	"time"
)

// Binding ties a handshake to one connection. Both sides fill it from what they see; the two
// Bindings are equal only when nobody sits between them.
type Binding struct {
	// HostCert and ViewerCert are SHA-256 of the host's and the viewer's DTLS certificates (DER),
	// taken from the live DTLS transport, not from the SDP.
	HostCert, ViewerCert [32]byte
	// HostID is the host ID the viewer asked for (identity.HostID form). On the host it must be
	// the host's own ID.
	HostID string
}

// HostConfig configures Host.
type HostConfig struct {
	// Key is the host's ed25519 identity key. Required.
	Key ed25519.PrivateKey
	// Authorized looks up a viewer key in authorized_viewers (see AuthorizedFunc). nil means no
	// key is trusted.
	Authorized func(ed25519.PublicKey) (Options, bool)
	// Codes holds the current one-time code; nil means codes are not accepted.
	Codes *CodeStore
	// Now is the clock for code expiry; nil means time.Now.
	Now func() time.Time
	// Rand is the source of nonces and CPace scalars; nil means crypto/rand.
	Rand io.Reader
	// Accepting, if set, is called once the viewer has proven itself, just before the host
	// tells it so. The viewer sends nothing on other channels before it hears the result, so
	// whatever arrived there until now came from someone unauthenticated: the session drains
	// and drops it until this call.
	Accepting func()
}

// Peer is the authenticated viewer as the host sees it.
type Peer struct {
	// Method is MethodKey or MethodCode.
	Method string
	// ViewerKey is the viewer's proven public key. It may be nil for the code method, when the
	// viewer did not offer one; in the code method it is proven but not checked against
	// authorized_viewers.
	ViewerKey ed25519.PublicKey
	// Options are the grants: those of the authorized_viewers line for the key method, the zero
	// value (host-wide policy) for the code method.
	Options Options
	// Client is the viewer's software and build as its hello named it (the browser page's
	// bundle version), or "". Informational only: nothing proves it.
	Client string
}

// ViewerConfig configures Viewer.
type ViewerConfig struct {
	// Key is the viewer's ed25519 key. Required for the key method; optional for the code method,
	// where it lets the host log (and later pin) who connected.
	Key ed25519.PrivateKey
	// Code is the one-time code as the person typed it; empty selects the trusted-key method.
	Code string
	// Rand is the source of nonces and CPace scalars; nil means crypto/rand.
	Rand io.Reader
	// Accepting, if set, is called once the viewer has proven itself, just before the host
	// tells it so. The viewer sends nothing on other channels before it hears the result, so
	// whatever arrived there until now came from someone unauthenticated: the session drains
	// and drops it until this call.
	Accepting func()
}

// Result is what the viewer learned from a successful handshake.
type Result struct {
	// Method is MethodKey or MethodCode.
	Method string
	// HostKey is the host's public key, proven to match Binding.HostID.
	HostKey ed25519.PublicKey
	// Options are the grants the host reported.
	Options Options
}

// domain separates this handshake's transcripts, signatures and keys from every other use of
// the same keys.
const domain = "deskport-auth-v1"

// Transcript labels and signing contexts.
const (
	ctxHostSig    = domain + " host signature"
	ctxViewerSig  = domain + " viewer signature"
	infoViewerMAC = domain + " viewer confirmation"
	infoHostMAC   = domain + " host confirmation"
)

// appendLV appends len(b) as LEB128 and then b, the same prefix-free encoding CPace uses.
func appendLV(dst, b []byte) []byte {
	n := len(b)
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, b...)
}

// transcript accumulates labelled, length-prefixed fields; sum hashes everything so far.
// Logical fields are hashed, not the JSON bytes, so that any correct encoder (the browser's
// included) produces the same transcript.
type transcript struct{ buf []byte }

func newTranscript(b Binding, method string) *transcript {
	t := &transcript{}
	t.add("domain", []byte(domain))
	t.add("host_cert", b.HostCert[:])
	t.add("viewer_cert", b.ViewerCert[:])
	t.add("host_id", []byte(b.HostID))
	t.add("method", []byte(method))
	return t
}

func (t *transcript) add(label string, v []byte) {
	t.buf = appendLV(t.buf, []byte(label))
	t.buf = appendLV(t.buf, v)
}

func (t *transcript) sum() []byte {
	h := sha512.Sum512(t.buf)
	return h[:]
}

// signed is the message an ed25519 signature covers: a context string and a transcript hash.
func signed(ctx string, th []byte) []byte {
	return appendLV(appendLV(nil, []byte(ctx)), th)
}

// channelID is CPace's CI: the binding, so that the CPace generator itself differs on the two
// legs of a relay.
func channelID(b Binding) []byte {
	ci := appendLV(nil, []byte(domain))
	ci = appendLV(ci, b.HostCert[:])
	ci = appendLV(ci, b.ViewerCert[:])
	return appendLV(ci, []byte(b.HostID))
}

// confirmMAC computes a key-confirmation tag: HMAC-SHA-512 over a transcript hash, keyed by
// HKDF-SHA-512(ISK) with a per-direction label.
func confirmMAC(isk []byte, info string, th []byte) ([]byte, error) {
	k, err := hkdf.Key(sha512.New, isk, nil, info, sha512.Size)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha512.New, k)
	m.Write(th)
	return m.Sum(nil), nil
}

func randomNonce(r io.Reader) ([]byte, error) {
	n := make([]byte, NonceSize)
	var err error
	if r == nil {
		_, err = rand.Read(n)
	} else {
		_, err = io.ReadFull(r, n)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: nonce: %w", err)
	}
	return n, nil
}

func cloneOptions(o Options) Options {
	o.PermitOpen = append([]string(nil), o.PermitOpen...)
	o.PermitListen = append([]string(nil), o.PermitListen...)
	if len(o.PermitOpen) == 0 {
		o.PermitOpen = nil
	}
	if len(o.PermitListen) == 0 {
		o.PermitListen = nil
	}
	return o
}
