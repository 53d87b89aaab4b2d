package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Version is the handshake version this package speaks; every message carries it as "v".
const Version = 1

// MaxMessageSize is the largest handshake message, in bytes, either side accepts or sends.
const MaxMessageSize = 4096

// NonceSize is the size of each side's random nonce.
const NonceSize = 32

// Message types (the "type" field).
const (
	typeHello      = "hello"       // viewer → host, first message
	typeHostAuth   = "host_auth"   // host → viewer
	typeViewerAuth = "viewer_auth" // viewer → host, key method
	typeConfirm    = "confirm"     // viewer → host, code method
	typeResult     = "result"      // host → viewer, last message
	typeAbort      = "abort"       // viewer → host, instead of its next message
)

// Methods (the hello "method" field, and Peer.Method / Result.Method).
const (
	MethodKey  = "key"
	MethodCode = "code"
)

// Refusal codes in a result message with ok=false.
const (
	CodeUnauthorized = "unauthorized"
	CodeBadCode      = "bad_code"
	CodeExpired      = "code_expired"
	CodeNoCode       = "no_code"
	CodeVersion      = "version"
	CodeProtocol     = "protocol"
)

// Abort codes in an abort message.
const (
	AbortHostMismatch = "host_mismatch"
	AbortProtocol     = "protocol"
	AbortVersion      = "version"
)

const (
	macSize          = sha512.Size
	maxHumanMessage  = 256
	maxOptionEntries = maxOptionRepeats
)

type helloMsg struct {
	V         int    `json:"v"`
	Type      string `json:"type"`
	Method    string `json:"method"`
	ViewerKey []byte `json:"viewer_key,omitempty"`
	Nonce     []byte `json:"nonce"`
	// Client names the viewer's software and build (the browser page sends its bundle
	// version). It is informational: the host logs it; nothing proves it.
	Client string `json:"client,omitempty"`
}

type hostAuthMsg struct {
	V       int    `json:"v"`
	Type    string `json:"type"`
	HostKey []byte `json:"host_key"`
	Nonce   []byte `json:"nonce"`
	Ya      []byte `json:"ya,omitempty"` // code method only: the host's CPace share
	Sig     []byte `json:"sig"`
}

type viewerAuthMsg struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Sig  []byte `json:"sig"`
}

type confirmMsg struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Yb   []byte `json:"yb"`
	Sig  []byte `json:"sig,omitempty"` // present exactly when the hello carried a viewer key
	MAC  []byte `json:"mac"`
}

type wireOptions struct {
	PermitOpen       []string `json:"permit_open,omitempty"`
	PermitListen     []string `json:"permit_listen,omitempty"`
	NoPortForwarding bool     `json:"no_port_forwarding,omitempty"`
	ViewOnly         bool     `json:"view_only,omitempty"`
	NoFiles          bool     `json:"no_files,omitempty"`
	NoClipboard      bool     `json:"no_clipboard,omitempty"`
}

type resultMsg struct {
	V       int          `json:"v"`
	Type    string       `json:"type"`
	OK      bool         `json:"ok"`
	Options *wireOptions `json:"options,omitempty"` // ok only
	MAC     []byte       `json:"mac,omitempty"`     // ok and code method only
	Code    string       `json:"code,omitempty"`    // refusal only
	Message string       `json:"message,omitempty"` // refusal only
}

type abortMsg struct {
	V       int    `json:"v"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// readMsg reads exactly one message. buf must be MaxMessageSize+1 bytes, so that a message over
// the limit shows up as too long instead of being cut.
func readMsg(r io.Reader, buf []byte) ([]byte, error) {
	n, err := r.Read(buf)
	if errors.Is(err, io.ErrShortBuffer) || n > MaxMessageSize {
		return nil, protoErr("message larger than %d bytes", MaxMessageSize)
	}
	if err != nil {
		if n > 0 && errors.Is(err, io.EOF) {
			return buf[:n], nil
		}
		return nil, err
	}
	return buf[:n], nil
}

func writeMsg(w io.Writer, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > MaxMessageSize {
		return protoErr("outgoing message of %d bytes is over the limit", len(b))
	}
	_, err = w.Write(b)
	return err
}

// envelope checks the version of a message and returns its type. It is lenient about the other
// fields, because a message of another version may carry fields this version does not know.
func envelope(raw []byte) (string, error) {
	if len(raw) > MaxMessageSize {
		return "", protoErr("message larger than %d bytes", MaxMessageSize)
	}
	var env struct {
		V    *int   `json:"v"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", protoErr("not a JSON object: %v", err)
	}
	if env.V == nil {
		return "", protoErr("message has no version field")
	}
	if *env.V != Version {
		return "", fmt.Errorf("%w: peer speaks version %d, this build speaks %d", ErrVersion, *env.V, Version)
	}
	return env.Type, nil
}

// strict decodes raw into out, refusing unknown fields and trailing data.
func strict(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return protoErr("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return protoErr("trailing data after the message")
	}
	return nil
}

// decodeAs runs envelope and strict for a message that must be of type typ.
func decodeAs(raw []byte, typ string, out any) error {
	t, err := envelope(raw)
	if err != nil {
		return err
	}
	if t != typ {
		return protoErr("got a %q message, want %q", t, typ)
	}
	return strict(raw, out)
}

func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return protoErr("%s is %d bytes, want %d", name, len(b), n)
	}
	return nil
}

func checkText(name, s string, max int) error {
	if len(s) > max {
		return protoErr("%s longer than %d bytes", name, max)
	}
	if !utf8.ValidString(s) {
		return protoErr("%s is not UTF-8", name)
	}
	return nil
}

func decodeHello(raw []byte) (*helloMsg, error) {
	var m helloMsg
	if err := decodeAs(raw, typeHello, &m); err != nil {
		return nil, err
	}
	if err := checkLen("nonce", m.Nonce, NonceSize); err != nil {
		return nil, err
	}
	switch m.Method {
	case MethodKey:
		if err := checkLen("viewer_key", m.ViewerKey, ed25519.PublicKeySize); err != nil {
			return nil, err
		}
	case MethodCode:
		if m.ViewerKey != nil {
			if err := checkLen("viewer_key", m.ViewerKey, ed25519.PublicKeySize); err != nil {
				return nil, err
			}
		}
	default:
		return nil, protoErr("unknown method %q", m.Method)
	}
	if len(m.Client) > MaxClientBytes {
		return nil, protoErr("client longer than %d bytes", MaxClientBytes)
	}
	for i := 0; i < len(m.Client); i++ {
		if c := m.Client[i]; c <= 0x20 || c >= 0x7f {
			return nil, protoErr("client: byte %#02x is not printable ASCII", c)
		}
	}
	return &m, nil
}

// MaxClientBytes bounds the hello's client name; it is printable ASCII without spaces, since
// the host logs it.
const MaxClientBytes = 64

// decodeHostAuth decodes the host's proof; method says whether a CPace share must be present.
func decodeHostAuth(raw []byte, method string) (*hostAuthMsg, error) {
	var m hostAuthMsg
	if err := decodeAs(raw, typeHostAuth, &m); err != nil {
		return nil, err
	}
	if err := checkLen("host_key", m.HostKey, ed25519.PublicKeySize); err != nil {
		return nil, err
	}
	if err := checkLen("nonce", m.Nonce, NonceSize); err != nil {
		return nil, err
	}
	if err := checkLen("sig", m.Sig, ed25519.SignatureSize); err != nil {
		return nil, err
	}
	if method == MethodCode {
		if err := checkLen("ya", m.Ya, 32); err != nil {
			return nil, err
		}
	} else if m.Ya != nil {
		return nil, protoErr("ya in a key-method handshake")
	}
	return &m, nil
}

func decodeViewerAuth(raw []byte) (*viewerAuthMsg, error) {
	var m viewerAuthMsg
	if err := decodeAs(raw, typeViewerAuth, &m); err != nil {
		return nil, err
	}
	if err := checkLen("sig", m.Sig, ed25519.SignatureSize); err != nil {
		return nil, err
	}
	return &m, nil
}

// decodeConfirm decodes the viewer's CPace share and key confirmation; withSig says whether the
// hello carried a viewer key, which must then be proven by a signature.
func decodeConfirm(raw []byte, withSig bool) (*confirmMsg, error) {
	var m confirmMsg
	if err := decodeAs(raw, typeConfirm, &m); err != nil {
		return nil, err
	}
	if err := checkLen("yb", m.Yb, 32); err != nil {
		return nil, err
	}
	if err := checkLen("mac", m.MAC, macSize); err != nil {
		return nil, err
	}
	if withSig {
		if err := checkLen("sig", m.Sig, ed25519.SignatureSize); err != nil {
			return nil, err
		}
	} else if m.Sig != nil {
		return nil, protoErr("sig without a viewer key")
	}
	return &m, nil
}

func decodeResult(raw []byte) (*resultMsg, error) {
	var m resultMsg
	if err := decodeAs(raw, typeResult, &m); err != nil {
		return nil, err
	}
	if m.OK {
		if m.Code != "" || m.Message != "" {
			return nil, protoErr("refusal fields in an ok result")
		}
		if m.MAC != nil {
			if err := checkLen("mac", m.MAC, macSize); err != nil {
				return nil, err
			}
		}
		if o := m.Options; o != nil {
			if err := checkOptionList("permit_open", o.PermitOpen, checkPermitOpen); err != nil {
				return nil, err
			}
			if err := checkOptionList("permit_listen", o.PermitListen, checkPermitListen); err != nil {
				return nil, err
			}
		}
		return &m, nil
	}
	if m.Options != nil || m.MAC != nil {
		return nil, protoErr("grant fields in a refusal")
	}
	switch m.Code {
	case CodeUnauthorized, CodeBadCode, CodeExpired, CodeNoCode, CodeVersion, CodeProtocol:
	default:
		return nil, protoErr("unknown refusal code %q", m.Code)
	}
	if err := checkText("message", m.Message, maxHumanMessage); err != nil {
		return nil, err
	}
	return &m, nil
}

func checkOptionList(name string, list []string, check func(string) error) error {
	if len(list) > maxOptionEntries {
		return protoErr("%s has more than %d entries", name, maxOptionEntries)
	}
	for _, v := range list {
		if len(v) > maxOptionValue {
			return protoErr("%s entry longer than %d bytes", name, maxOptionValue)
		}
		if err := check(v); err != nil {
			return protoErr("%s: %v", name, err)
		}
	}
	return nil
}

func decodeAbort(raw []byte) (*abortMsg, error) {
	var m abortMsg
	if err := decodeAs(raw, typeAbort, &m); err != nil {
		return nil, err
	}
	switch m.Code {
	case AbortHostMismatch, AbortProtocol, AbortVersion:
	default:
		return nil, protoErr("unknown abort code %q", m.Code)
	}
	if err := checkText("message", m.Message, maxHumanMessage); err != nil {
		return nil, err
	}
	return &m, nil
}

func toWire(o Options) *wireOptions {
	return &wireOptions{
		PermitOpen:       o.PermitOpen,
		PermitListen:     o.PermitListen,
		NoPortForwarding: o.NoPortForwarding,
		ViewOnly:         o.ViewOnly,
		NoFiles:          o.NoFiles,
		NoClipboard:      o.NoClipboard,
	}
}

func fromWire(w *wireOptions) Options {
	if w == nil {
		return Options{}
	}
	return Options{
		PermitOpen:       w.PermitOpen,
		PermitListen:     w.PermitListen,
		NoPortForwarding: w.NoPortForwarding,
		ViewOnly:         w.ViewOnly,
		NoFiles:          w.NoFiles,
		NoClipboard:      w.NoClipboard,
	}
}
