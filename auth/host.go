package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/deskport/deskport/auth/cpace"
	"github.com/deskport/deskport/identity"
)

// Host runs the host side of the handshake on rw, a message-oriented channel (one Write sends
// one message, one Read returns one whole message). It returns the authenticated viewer, or an
// error that errors.Is one of the sentinels; on refusal the viewer has been told why with one of
// the refusal codes and nothing more. Host does not time out by itself: the caller bounds the
// handshake by closing rw.
func Host(rw io.ReadWriter, b Binding, cfg HostConfig) (*Peer, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: HostConfig.Key is not an ed25519 private key")
	}
	hostPub := cfg.Key.Public().(ed25519.PublicKey)
	if id := identity.HostID(hostPub); b.HostID != id {
		return nil, fmt.Errorf("auth: the binding names host ID %q but this host's ID is %s", b.HostID, id)
	}
	h := &hostRun{rw: rw, b: b, cfg: cfg, pub: hostPub, buf: make([]byte, MaxMessageSize+1)}
	raw, err := readMsg(rw, h.buf)
	if err != nil {
		return nil, h.fail(fmt.Errorf("auth: read hello: %w", err))
	}
	hello, err := decodeHello(raw)
	if err != nil {
		return nil, h.fail(err)
	}
	if hello.Method == MethodKey {
		return h.keyMethod(hello)
	}
	return h.codeMethod(hello)
}

type hostRun struct {
	rw  io.ReadWriter
	b   Binding
	cfg HostConfig
	pub ed25519.PublicKey
	buf []byte
}

// refuse tells the viewer the refusal code and returns err.
func (h *hostRun) refuse(code, msg string, err error) error {
	_ = writeMsg(h.rw, &resultMsg{V: Version, Type: typeResult, Code: code, Message: msg})
	return err
}

// fail refuses with the code that matches err (version or protocol), unless the channel itself
// failed, in which case there is nobody to tell.
func (h *hostRun) fail(err error) error {
	switch {
	case errors.Is(err, ErrVersion):
		return h.refuse(CodeVersion, fmt.Sprintf("this host speaks handshake version %d", Version), err)
	case errors.Is(err, ErrProtocol):
		return h.refuse(CodeProtocol, "malformed handshake message", err)
	}
	return err
}

// readNext reads the viewer's next message, which must be of type typ or an abort.
func (h *hostRun) readNext(typ string) ([]byte, error) {
	raw, err := readMsg(h.rw, h.buf)
	if err != nil {
		return nil, h.fail(fmt.Errorf("auth: read %s: %w", typ, err))
	}
	t, err := envelope(raw)
	if err != nil {
		return nil, h.fail(err)
	}
	if t == typeAbort {
		a, err := decodeAbort(raw)
		if err != nil {
			return nil, err // the viewer is gone either way
		}
		return nil, fmt.Errorf("%w (%s): %s", ErrAborted, a.Code, abortText(a.Code))
	}
	return raw, nil
}

func abortText(code string) string {
	switch code {
	case AbortHostMismatch:
		return "the viewer saw a different host key or different DTLS certificates; someone may be relaying the connection"
	case AbortVersion:
		return "the viewer does not speak this handshake version"
	}
	return "the viewer found this host's messages malformed"
}

func (h *hostRun) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

func (h *hostRun) keyMethod(hello *helloMsg) (*Peer, error) {
	viewerPub := ed25519.PublicKey(hello.ViewerKey)
	nonce, err := randomNonce(h.cfg.Rand)
	if err != nil {
		return nil, err
	}
	tr := newTranscript(h.b, MethodKey)
	tr.add("viewer_key", viewerPub)
	tr.add("viewer_nonce", hello.Nonce)
	tr.add("host_key", h.pub)
	tr.add("host_nonce", nonce)
	sig := ed25519.Sign(h.cfg.Key, signed(ctxHostSig, tr.sum()))
	if err := writeMsg(h.rw, &hostAuthMsg{V: Version, Type: typeHostAuth, HostKey: h.pub, Nonce: nonce, Sig: sig}); err != nil {
		return nil, fmt.Errorf("auth: send host_auth: %w", err)
	}

	raw, err := h.readNext(typeViewerAuth)
	if err != nil {
		return nil, err
	}
	va, err := decodeViewerAuth(raw)
	if err != nil {
		return nil, h.fail(err)
	}
	tr.add("host_sig", sig)
	fp := identity.Fingerprint(viewerPub)
	// Check the signature before the key list, and answer both failures alike: an unproven key
	// must not learn whether it is authorized.
	if !ed25519.Verify(viewerPub, signed(ctxViewerSig, tr.sum()), va.Sig) {
		return nil, h.refuse(CodeUnauthorized, "viewer key not authorized",
			newError(ErrUnauthorized, fmt.Sprintf("auth: refused viewer key %s: its signature does not cover this connection (a replayed or relayed handshake)", fp)))
	}
	var opts Options
	ok := false
	if h.cfg.Authorized != nil {
		opts, ok = h.cfg.Authorized(viewerPub)
	}
	if !ok {
		return nil, h.refuse(CodeUnauthorized, "viewer key not authorized",
			newError(ErrUnauthorized, fmt.Sprintf("auth: refused viewer key %s: it is not in authorized_viewers", fp)))
	}
	if h.cfg.Accepting != nil {
		h.cfg.Accepting()
	}
	if err := writeMsg(h.rw, &resultMsg{V: Version, Type: typeResult, OK: true, Options: toWire(opts)}); err != nil {
		return nil, fmt.Errorf("auth: send result: %w", err)
	}
	return &Peer{Method: MethodKey, ViewerKey: viewerPub, Options: opts, Client: hello.Client}, nil
}

func (h *hostRun) codeMethod(hello *helloMsg) (*Peer, error) {
	if h.cfg.Codes == nil {
		return nil, h.refuse(CodeNoCode, "this host does not accept one-time codes",
			newError(ErrNoCode, "auth: refused a one-time code attempt: codes are not enabled on this host"))
	}
	// From here on the code is used up, whatever happens: one guess per code.
	code, err := h.cfg.Codes.take(h.now())
	switch {
	case errors.Is(err, ErrCodeExpired):
		return nil, h.refuse(CodeExpired, "the one-time code has expired",
			newError(ErrCodeExpired, "auth: refused a one-time code attempt: the code had expired"))
	case err != nil:
		return nil, h.refuse(CodeNoCode, "no current one-time code",
			newError(ErrNoCode, "auth: refused a one-time code attempt: there is no current code (none generated, or already used)"))
	}

	var viewerPub ed25519.PublicKey
	if hello.ViewerKey != nil {
		viewerPub = hello.ViewerKey
	}
	nonce, err := randomNonce(h.cfg.Rand)
	if err != nil {
		return nil, err
	}
	sid := append(append([]byte(nil), hello.Nonce...), nonce...)
	ini, ya, err := cpace.NewInitiator([]byte(code), channelID(h.b), sid, h.pub, h.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	tr := newTranscript(h.b, MethodCode)
	tr.add("viewer_key", viewerPub)
	tr.add("viewer_nonce", hello.Nonce)
	tr.add("host_key", h.pub)
	tr.add("host_nonce", nonce)
	tr.add("ya", ya)
	sig := ed25519.Sign(h.cfg.Key, signed(ctxHostSig, tr.sum()))
	if err := writeMsg(h.rw, &hostAuthMsg{V: Version, Type: typeHostAuth, HostKey: h.pub, Nonce: nonce, Ya: ya, Sig: sig}); err != nil {
		return nil, fmt.Errorf("auth: send host_auth: %w", err)
	}

	raw, err := h.readNext(typeConfirm)
	if err != nil {
		return nil, err
	}
	c, err := decodeConfirm(raw, viewerPub != nil)
	if err != nil {
		return nil, h.fail(err)
	}
	isk, err := ini.Finish(c.Yb, viewerPub)
	if err != nil {
		return nil, h.fail(protoErr("viewer's CPace share: %v", err))
	}
	tr.add("host_sig", sig)
	tr.add("yb", c.Yb)
	th2 := tr.sum()
	tr.add("viewer_sig", c.Sig)
	want, err := confirmMAC(isk, infoViewerMAC, tr.sum())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(want, c.MAC) {
		return nil, h.refuse(CodeBadCode, "wrong one-time code; the code is used up",
			newError(ErrBadCode, "auth: refused a one-time code attempt: wrong code (it is now used up; show a new code to let the viewer try again)"))
	}
	if viewerPub != nil && !ed25519.Verify(viewerPub, signed(ctxViewerSig, th2), c.Sig) {
		return nil, h.refuse(CodeProtocol, "malformed handshake message",
			protoErr("the viewer knew the code but its key signature does not verify"))
	}
	tr.add("viewer_mac", c.MAC)
	mac, err := confirmMAC(isk, infoHostMAC, tr.sum())
	if err != nil {
		return nil, err
	}
	if h.cfg.Accepting != nil {
		h.cfg.Accepting()
	}
	if err := writeMsg(h.rw, &resultMsg{V: Version, Type: typeResult, OK: true, Options: &wireOptions{}, MAC: mac}); err != nil {
		return nil, fmt.Errorf("auth: send result: %w", err)
	}
	return &Peer{Method: MethodCode, ViewerKey: viewerPub, Options: Options{}, Client: hello.Client}, nil
}
