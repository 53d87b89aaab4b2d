package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"

	"github.com/deskport/deskport/auth/cpace"
	"github.com/deskport/deskport/identity"
)

// Viewer runs the viewer side of the handshake on rw, a message-oriented channel (one Write
// sends one message, one Read returns one whole message). With cfg.Code empty it proves
// cfg.Key; otherwise it runs the one-time-code method. Errors are errors.Is-able sentinels whose
// messages tell the user what to do. Viewer does not time out by itself: the caller bounds the
// handshake by closing rw.
func Viewer(rw io.ReadWriter, b Binding, cfg ViewerConfig) (*Result, error) {
	v := &viewerRun{rw: rw, b: b, cfg: cfg, buf: make([]byte, MaxMessageSize+1)}
	if cfg.Key != nil && len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: ViewerConfig.Key is not an ed25519 private key")
	}
	if cfg.Key != nil {
		v.pub = cfg.Key.Public().(ed25519.PublicKey)
	}
	hello := &helloMsg{V: Version, Type: typeHello, ViewerKey: v.pub}
	if cfg.Code == "" {
		if cfg.Key == nil {
			return nil, errors.New("auth: no viewer key and no one-time code: the viewer needs one of them")
		}
		hello.Method = MethodKey
	} else {
		v.code = NormalizeCode(cfg.Code)
		if !validCode(v.code) {
			return nil, fmt.Errorf("auth: %q is not a one-time code: a code has %d characters from A-Z and 2-9 (no I, O, 0 or 1), like ABCD-EFGH; check it and try again (it has not been used up)", cfg.Code, CodeLen)
		}
		hello.Method = MethodCode
	}
	v.method = hello.Method
	nonce, err := randomNonce(cfg.Rand)
	if err != nil {
		return nil, err
	}
	hello.Nonce = nonce
	if err := writeMsg(rw, hello); err != nil {
		return nil, fmt.Errorf("auth: send hello: %w", err)
	}

	raw, err := readMsg(rw, v.buf)
	if err != nil {
		return nil, v.fail(fmt.Errorf("auth: read the host's answer: %w", err))
	}
	typ, err := envelope(raw)
	if err != nil {
		return nil, v.fail(err)
	}
	if typ == typeResult {
		res, err := decodeResult(raw)
		if err != nil {
			return nil, v.fail(err)
		}
		if res.OK {
			return nil, v.fail(protoErr("the host accepted before authenticating"))
		}
		return nil, v.refused(res)
	}
	ha, err := decodeHostAuth(raw, v.method)
	if err != nil {
		return nil, v.fail(err)
	}
	hostPub := ed25519.PublicKey(ha.HostKey)
	if id := identity.HostID(hostPub); id != b.HostID {
		return nil, v.abort(AbortHostMismatch, newError(ErrHostMismatch, fmt.Sprintf(
			"auth: the host answered with key %s, whose host ID is %s, not %s as asked: the connection may be intercepted (man in the middle); do not continue, and check the host ID with the host owner",
			identity.Fingerprint(hostPub), id, b.HostID)))
	}

	tr := newTranscript(b, v.method)
	tr.add("viewer_key", v.pub)
	tr.add("viewer_nonce", nonce)
	tr.add("host_key", hostPub)
	tr.add("host_nonce", ha.Nonce)
	if v.method == MethodCode {
		tr.add("ya", ha.Ya)
	}
	if !ed25519.Verify(hostPub, signed(ctxHostSig, tr.sum()), ha.Sig) {
		return nil, v.abort(AbortHostMismatch, newError(ErrHostMismatch, fmt.Sprintf(
			"auth: host %s did not prove its key over this connection: its signature does not cover the DTLS certificates this viewer sees, so someone may be relaying the connection (man in the middle); do not continue, and report it to the host owner",
			b.HostID)))
	}
	tr.add("host_sig", ha.Sig)

	if v.method == MethodKey {
		sig := ed25519.Sign(cfg.Key, signed(ctxViewerSig, tr.sum()))
		if err := writeMsg(rw, &viewerAuthMsg{V: Version, Type: typeViewerAuth, Sig: sig}); err != nil {
			return nil, fmt.Errorf("auth: send viewer_auth: %w", err)
		}
		res, err := v.readResult()
		if err != nil {
			return nil, err
		}
		if res.MAC != nil {
			return nil, protoErr("the host sent a key confirmation in a key-method handshake")
		}
		return &Result{Method: MethodKey, HostKey: hostPub, Options: fromWire(res.Options)}, nil
	}

	sid := append(append([]byte(nil), nonce...), ha.Nonce...)
	yb, isk, err := cpace.Respond([]byte(v.code), channelID(b), sid, ha.Ya, hostPub, v.pub, cfg.Rand)
	if err != nil {
		if errors.Is(err, cpace.ErrInvalidElement) {
			return nil, v.abort(AbortProtocol, protoErr("the host's CPace share is invalid"))
		}
		return nil, fmt.Errorf("auth: %w", err)
	}
	tr.add("yb", yb)
	var sig []byte
	if cfg.Key != nil {
		sig = ed25519.Sign(cfg.Key, signed(ctxViewerSig, tr.sum()))
	}
	tr.add("viewer_sig", sig)
	mac, err := confirmMAC(isk, infoViewerMAC, tr.sum())
	if err != nil {
		return nil, err
	}
	if err := writeMsg(rw, &confirmMsg{V: Version, Type: typeConfirm, Yb: yb, Sig: sig, MAC: mac}); err != nil {
		return nil, fmt.Errorf("auth: send confirm: %w", err)
	}
	res, err := v.readResult()
	if err != nil {
		return nil, err
	}
	tr.add("viewer_mac", mac)
	want, err := confirmMAC(isk, infoHostMAC, tr.sum())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(want, res.MAC) {
		return nil, protoErr("the host's key confirmation does not match although it accepted the code; do not continue")
	}
	return &Result{Method: MethodCode, HostKey: hostPub, Options: fromWire(res.Options)}, nil
}

type viewerRun struct {
	rw     io.ReadWriter
	b      Binding
	cfg    ViewerConfig
	pub    ed25519.PublicKey
	code   string
	method string
	buf    []byte
}

// abort tells the host that the viewer gives up and why, then returns err.
func (v *viewerRun) abort(code string, err error) error {
	_ = writeMsg(v.rw, &abortMsg{V: Version, Type: typeAbort, Code: code})
	return err
}

// fail aborts with the code that matches err, unless the channel itself failed.
func (v *viewerRun) fail(err error) error {
	switch {
	case errors.Is(err, ErrVersion):
		return v.abort(AbortVersion, newError(ErrVersion, fmt.Sprintf("%v; update deskport so that viewer and host speak the same version", err)))
	case errors.Is(err, ErrProtocol):
		return v.abort(AbortProtocol, err)
	}
	return err
}

// readResult reads the host's final message and turns a refusal into an error.
func (v *viewerRun) readResult() (*resultMsg, error) {
	raw, err := readMsg(v.rw, v.buf)
	if err != nil {
		return nil, fmt.Errorf("auth: read result: %w", err)
	}
	res, err := decodeResult(raw)
	if err != nil {
		return nil, err
	}
	if !res.OK {
		return nil, v.refused(res)
	}
	if v.method == MethodCode && res.MAC == nil {
		return nil, protoErr("the host accepted without confirming the code")
	}
	return res, nil
}

// refused turns a refusal code into an error that says what to do.
func (v *viewerRun) refused(res *resultMsg) error {
	switch res.Code {
	case CodeUnauthorized:
		if v.pub == nil {
			return newError(ErrUnauthorized, "auth: the host refused this viewer")
		}
		return newError(ErrUnauthorized, fmt.Sprintf(
			"auth: host refused viewer key %s: it is not in the host's authorized_viewers file; give the host owner this line to add: %s",
			identity.Fingerprint(v.pub), identity.AuthorizedLine(v.pub, "")))
	case CodeBadCode:
		return newError(ErrBadCode, "auth: the one-time code was wrong and is now used up; ask the host owner for a new code")
	case CodeExpired:
		return newError(ErrCodeExpired, "auth: the one-time code has expired (codes last a few minutes) and is now used up; ask the host owner for a new code")
	case CodeNoCode:
		if v.method == MethodCode {
			return newError(ErrNoCode, "auth: the host is not accepting a one-time code right now (it shows none, or the code was already used); ask the host owner for a new code, or connect with a trusted key")
		}
		return newError(ErrNoCode, "auth: the host has no one-time code")
	case CodeVersion:
		return newError(ErrVersion, fmt.Sprintf("auth: the host does not speak handshake version %d; update deskport so that viewer and host speak the same version", Version))
	}
	return newError(ErrProtocol, fmt.Sprintf("auth: the host rejected the handshake as malformed (host said %q); check that viewer and host run compatible deskport versions", res.Message))
}
