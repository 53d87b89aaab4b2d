// Package signaling is the signaling wire format spoken between deskport hosts, viewers and the
// rendezvous: one JSON object per WebSocket text message, each with a "type" and only the fields
// that type uses.
//
// Everything here is decoded from bytes a stranger sent, so Decode is strict: it refuses unknown
// or duplicate fields, fields that belong to another type, missing required fields, invalid
// UTF-8 and every value over its limit. The limits are constants so that the rendezvous, the
// clients and docs/signaling.md agree on them.
package signaling

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/deskport/deskport/identity"
)

// Limits. A message that breaks any of them is refused by Decode and by Encode.
const (
	// MaxMessageBytes bounds a whole encoded message.
	MaxMessageBytes = 64 << 10
	// MaxSDPBytes bounds an offer or answer SDP.
	MaxSDPBytes = 32 << 10
	// MaxCandidateBytes bounds one ICE candidate line.
	MaxCandidateBytes = 1 << 10
	// MaxSDPMidBytes bounds a candidate's media stream identification tag.
	MaxSDPMidBytes = 64
	// MaxUfragBytes bounds a candidate's ICE username fragment (RFC 8839 allows 256).
	MaxUfragBytes = 256
	// MaxErrorMessageBytes bounds the human message of an error.
	MaxErrorMessageBytes = 1 << 10
	// MaxReasonBytes bounds the human reason of a bye.
	MaxReasonBytes = 256
	// MaxVersionBytes bounds a client version string.
	MaxVersionBytes = 64
	// MaxCodeBytes bounds a machine-readable error or bye code.
	MaxCodeBytes = 32
	// MaxAddrBytes bounds the viewer address the rendezvous adds to an offer.
	MaxAddrBytes = 64
	// MaxICEServers bounds the ICE server list of registered, session and offer.
	MaxICEServers = 8
	// MaxICEURLs bounds the URLs of one ICE server.
	MaxICEURLs = 8
	// MaxICEURLBytes bounds one ICE server URL.
	MaxICEURLBytes = 512
	// MaxICECredentialBytes bounds an ICE server username and credential.
	MaxICECredentialBytes = 512
	// NonceBytes is the size of the registration challenge nonce.
	NonceBytes = 32
	// MaxNames bounds the names a challenge lists.
	MaxNames = 8
	// MaxNameBytes bounds one of them: a DNS name (253) with a port, or a bracketed IPv6
	// address with a port.
	MaxNameBytes = 261
	// SessionIDLen is the length of a session ID: 128 random bits in lower-case hex.
	SessionIDLen = 32
)

// Type says what a message is and which fields it carries.
type Type string

// The message types. The direction is part of the protocol; see docs/signaling.md.
const (
	TypeChallenge  Type = "challenge"  // server → host
	TypeRegister   Type = "register"   // host → server
	TypeRegistered Type = "registered" // server → host
	TypeConnect    Type = "connect"    // viewer → server
	TypeSession    Type = "session"    // server → viewer
	TypeOffer      Type = "offer"      // viewer ↔ host, through the server
	TypeAnswer     Type = "answer"     // host ↔ viewer, through the server
	TypeCandidate  Type = "candidate"  // either end, through the server
	TypeBye        Type = "bye"        // either end or the server
	TypeError      Type = "error"      // server → either end
)

// Error codes carried by error messages. Decode accepts any code of the right form, so that an
// older client can still read an error a newer server invents; clients treat a code they do not
// know like ErrorRefused.
const (
	CodeHostOffline     = "host_offline"      // the host registered since the server started but is not online now
	CodeUnknownHost     = "unknown_host"      // no host with that ID registered since the server started
	CodeRateLimited     = "rate_limited"      // too many messages or connections; slow down
	CodeTooManySessions = "too_many_sessions" // a pending-per-host or sessions-per-connection cap was hit
	CodeBadRequest      = "bad_request"       // the message was malformed or not allowed in this state
	CodeVersion         = "version"           // the client version is not supported
	CodeBadSignature    = "bad_signature"     // register: the signature does not verify
	CodeUnknownSession  = "unknown_session"   // the session does not exist or the sender is not an end of it
	CodeReplaced        = "replaced"          // a newer connection registered the same host ID
	CodeInternal        = "internal"          // the server failed; retry later
	CodeUnavailable     = "unavailable"       // the host is on another rendezvous instance this one cannot reach now; retry
)

// Bye codes: set only by the rendezvous on a bye it originates; a bye relayed from the other end
// carries no code.
const (
	ByePeerGone = "peer_gone" // the other end's WebSocket went away
	ByeExpired  = "expired"   // the host did not answer in time
	ByeShutdown = "shutdown"  // the rendezvous is shutting down
)

// ICEServer is one STUN or TURN server, in the shape of the WebRTC RTCIceServer dictionary.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Candidate is one trickled ICE candidate, in the shape of RTCIceCandidateInit (and of pion's
// webrtc.ICECandidateInit), so that it converts field by field. An empty Candidate string means
// the end of candidates.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Message is every signaling message. Which fields a type uses, and which of those are
// required, is listed in docs/signaling.md and enforced by Decode and Encode.
type Message struct {
	Type Type `json:"type"`

	Nonce      string      `json:"nonce,omitempty"`      // challenge: base64 of NonceBytes random bytes
	Names      []string    `json:"names,omitempty"`      // challenge: the names the server answers to (CanonicalHost form)
	PublicKey  string      `json:"publicKey,omitempty"`  // register: base64 of the host's ed25519 public key
	Signature  string      `json:"signature,omitempty"`  // register: base64 of the ed25519 signature over RegisterProof
	Version    string      `json:"version,omitempty"`    // register, connect: client version
	HostID     string      `json:"hostId,omitempty"`     // registered, connect, session
	Session    string      `json:"session,omitempty"`    // session, offer, answer, candidate, bye; optional in error
	ICEServers []ICEServer `json:"iceServers,omitempty"` // registered, session; offer towards the host
	SDP        string      `json:"sdp,omitempty"`        // offer, answer
	ViewerAddr string      `json:"viewerAddr,omitempty"` // offer towards the host: the viewer's address as the rendezvous saw it
	Candidate  *Candidate  `json:"candidate,omitempty"`  // candidate
	Reason     string      `json:"reason,omitempty"`     // bye: human reason
	Code       string      `json:"code,omitempty"`       // error: machine code; bye: set by the server only
	Message    string      `json:"message,omitempty"`    // error: human message that says what to do
}

// ErrInvalid wraps every error Decode and Encode return.
var ErrInvalid = errors.New("signal: invalid message")

type field struct {
	name     string
	required bool
}

// fields lists, per type, the fields it may carry besides "type".
var fields = map[Type][]field{
	TypeChallenge:  {{"nonce", true}, {"names", false}},
	TypeRegister:   {{"publicKey", true}, {"signature", true}, {"version", true}},
	TypeRegistered: {{"hostId", true}, {"iceServers", false}},
	TypeConnect:    {{"hostId", true}, {"version", true}},
	TypeSession:    {{"session", true}, {"hostId", true}, {"iceServers", false}},
	TypeOffer:      {{"session", true}, {"sdp", true}, {"viewerAddr", false}, {"iceServers", false}},
	TypeAnswer:     {{"session", true}, {"sdp", true}},
	TypeCandidate:  {{"session", true}, {"candidate", true}},
	TypeBye:        {{"session", true}, {"reason", false}, {"code", false}},
	TypeError:      {{"code", true}, {"message", true}, {"session", false}},
}

var (
	iceServerFields = []field{{"urls", true}, {"username", false}, {"credential", false}}
	candidateFields = []field{{"candidate", true}, {"sdpMid", false}, {"sdpMLineIndex", false}, {"usernameFragment", false}}
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decode parses and checks one message.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, invalid("message of %d bytes exceeds the %d-byte limit", len(b), MaxMessageBytes)
	}
	if !utf8.Valid(b) {
		return nil, invalid("not valid UTF-8")
	}
	top, err := objectKeys(b)
	if err != nil {
		return nil, err
	}
	rawType, ok := top["type"]
	if !ok {
		return nil, invalid("missing \"type\"")
	}
	var t Type
	if err := json.Unmarshal(rawType, &t); err != nil {
		return nil, invalid("\"type\" is not a string")
	}
	allowed, ok := fields[t]
	if !ok {
		return nil, invalid("unknown type %.32q", string(t))
	}
	if err := checkKeys(string(t), top, append([]field{{"type", true}}, allowed...)); err != nil {
		return nil, err
	}
	// Nested objects get the same exact-key treatment, because encoding/json would otherwise
	// match keys case-insensitively and keep the last of duplicate keys.
	if raw, ok := top["iceServers"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, invalid("\"iceServers\" is not an array")
		}
		if len(list) > MaxICEServers {
			return nil, invalid("%d ICE servers, at most %d", len(list), MaxICEServers)
		}
		for _, e := range list {
			keys, err := objectKeys(e)
			if err != nil {
				return nil, err
			}
			if err := checkKeys("ICE server", keys, iceServerFields); err != nil {
				return nil, err
			}
		}
	}
	if raw, ok := top["candidate"]; ok {
		keys, err := objectKeys(raw)
		if err != nil {
			return nil, err
		}
		if err := checkKeys("candidate", keys, candidateFields); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, invalid("%v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Encode checks m and returns its wire form.
func Encode(m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if len(b) > MaxMessageBytes {
		return nil, invalid("message of %d bytes exceeds the %d-byte limit", len(b), MaxMessageBytes)
	}
	return b, nil
}

// objectKeys reads one JSON object and returns its members, refusing duplicate keys and
// anything after the object.
func objectKeys(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid("%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("not a JSON object")
	}
	out := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("%v", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, invalid("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, invalid("%v", err)
		}
		if _, dup := out[k]; dup {
			return nil, invalid("duplicate field %.64q", k)
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalid("%v", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalid("data after the JSON object")
	}
	return out, nil
}

// checkKeys refuses keys outside allowed, missing required keys and null values. Only the
// optional members of a candidate may be null, because browsers serialise them that way.
func checkKeys(what string, got map[string]json.RawMessage, allowed []field) error {
	for k, v := range got {
		var f *field
		for i := range allowed {
			if allowed[i].name == k {
				f = &allowed[i]
				break
			}
		}
		if f == nil {
			return invalid("%s: field %.64q is not allowed", what, k)
		}
		if string(v) == "null" && (f.required || what != "candidate") {
			return invalid("%s: field %q is null", what, k)
		}
	}
	for _, f := range allowed {
		if _, ok := got[f.name]; f.required && !ok {
			return invalid("%s: missing required field %q", what, f.name)
		}
	}
	return nil
}

// uses reports whether type t may carry the named field.
func uses(t Type, name string) bool {
	for _, f := range fields[t] {
		if f.name == name {
			return true
		}
	}
	return false
}

// Validate checks that m carries only the fields its type uses, all required ones, and every
// value within its limit. Decode and Encode call it.
func (m *Message) Validate() error {
	if _, ok := fields[m.Type]; !ok {
		return invalid("unknown type %.32q", string(m.Type))
	}
	present := map[string]bool{
		"nonce": m.Nonce != "", "names": m.Names != nil, "publicKey": m.PublicKey != "", "signature": m.Signature != "",
		"version": m.Version != "", "hostId": m.HostID != "", "session": m.Session != "",
		"iceServers": m.ICEServers != nil, "sdp": m.SDP != "", "viewerAddr": m.ViewerAddr != "",
		"candidate": m.Candidate != nil, "reason": m.Reason != "", "code": m.Code != "",
		"message": m.Message != "",
	}
	for name, p := range present {
		if p && !uses(m.Type, name) {
			return invalid("%s: field %q is not allowed", m.Type, name)
		}
	}
	for _, f := range fields[m.Type] {
		if f.required && !present[f.name] {
			return invalid("%s: missing or empty required field %q", m.Type, f.name)
		}
	}
	var err error
	check := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	if m.Nonce != "" {
		check(checkBase64("nonce", m.Nonce, NonceBytes))
	}
	if m.Names != nil {
		check(checkNames(m.Names))
	}
	if m.PublicKey != "" {
		check(checkBase64("publicKey", m.PublicKey, 32))
	}
	if m.Signature != "" {
		check(checkBase64("signature", m.Signature, 64))
	}
	if m.Version != "" {
		check(CheckVersion(m.Version))
	}
	if m.HostID != "" {
		check(checkHostID(m.HostID))
	}
	if m.Session != "" {
		check(CheckSessionID(m.Session))
	}
	if m.ICEServers != nil {
		check(checkICEServers(m.ICEServers))
	}
	if m.SDP != "" {
		check(checkText("sdp", m.SDP, MaxSDPBytes))
	}
	if m.ViewerAddr != "" {
		check(checkAddr(m.ViewerAddr))
	}
	if m.Candidate != nil {
		check(checkCandidate(m.Candidate))
	}
	if m.Reason != "" {
		check(checkText("reason", m.Reason, MaxReasonBytes))
	}
	if m.Code != "" {
		check(checkCode(m.Code))
	}
	if m.Message != "" {
		check(checkText("message", m.Message, MaxErrorMessageBytes))
	}
	return err
}

func checkBase64(name, s string, n int) error {
	if len(s) != base64.StdEncoding.EncodedLen(n) {
		return invalid("%s: want base64 of %d bytes", name, n)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != n {
		return invalid("%s: want base64 of %d bytes", name, n)
	}
	return nil
}

// CheckVersion checks the form of a client version string: 1 to MaxVersionBytes characters
// from A-Z a-z 0-9 . _ + / -.
func CheckVersion(s string) error {
	if len(s) == 0 || len(s) > MaxVersionBytes {
		return invalid("version: want 1 to %d characters", MaxVersionBytes)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+/-", c) >= 0) {
			return invalid("version: character %q not allowed", c)
		}
	}
	return nil
}

func checkHostID(s string) error {
	if len(s) != identity.IDLen {
		return invalid("hostId: want %d characters", identity.IDLen)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return invalid("hostId: want lower-case base32 (a-z, 2-7)")
		}
	}
	if id, err := identity.ParseHostID(s); err != nil || id != s {
		return invalid("hostId: not a host ID")
	}
	return nil
}

// CheckSessionID checks the form of a session ID: SessionIDLen lower-case hex digits.
func CheckSessionID(s string) error {
	if len(s) != SessionIDLen {
		return invalid("session: want %d lower-case hex digits", SessionIDLen)
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return invalid("session: want %d lower-case hex digits", SessionIDLen)
		}
	}
	return nil
}

func checkCode(s string) error {
	if len(s) > MaxCodeBytes {
		return invalid("code: at most %d characters", MaxCodeBytes)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return invalid("code: want a-z and _")
		}
	}
	return nil
}

// checkText bounds a free-form string and refuses control characters other than CR, LF and
// tab, so that nothing decoded can rewrite a terminal or a log line.
func checkText(name, s string, max int) error {
	if len(s) > max {
		return invalid("%s: %d bytes, at most %d", name, len(s), max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\r' && r != '\n' && r != '\t' || r == 0x7f {
			return invalid("%s: control character %U not allowed", name, r)
		}
	}
	return nil
}

// checkAddr accepts an IP address or ip:port with no IPv6 zone. A zone may hold any bytes
// (netip takes "fe80::1%\x1b[2J"), and the host prints this address in its consent prompt and
// in `host sessions`, so a zone would let a rendezvous write to the owner's terminal; an
// address the rendezvous saw on the internet never has one anyway.
func checkAddr(s string) error {
	if len(s) > MaxAddrBytes {
		return invalid("viewerAddr: at most %d bytes", MaxAddrBytes)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return invalid("viewerAddr: control or non-ASCII byte %#02x not allowed", c)
		}
	}
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(s); err != nil {
		return invalid("viewerAddr: want ip or ip:port")
	}
	if ip.Zone() != "" {
		return invalid("viewerAddr: an IPv6 zone (%%...) is not allowed")
	}
	return nil
}

// checkNames checks a challenge's names: 1 to MaxNames, each a host or host:port in the form
// CanonicalHost gives (lower case; IPv6 in brackets), so that a client compares bytes.
func checkNames(names []string) error {
	if len(names) == 0 || len(names) > MaxNames {
		return invalid("names: want 1 to %d names", MaxNames)
	}
	for _, n := range names {
		if len(n) == 0 || len(n) > MaxNameBytes {
			return invalid("names: want 1 to %d bytes each", MaxNameBytes)
		}
		for _, c := range []byte(n) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]_", c) >= 0) {
				return invalid("names: character %q not allowed (lower-case host or host:port)", c)
			}
		}
	}
	return nil
}

func checkICEServers(list []ICEServer) error {
	if len(list) > MaxICEServers {
		return invalid("%d ICE servers, at most %d", len(list), MaxICEServers)
	}
	for i, s := range list {
		if len(s.URLs) == 0 || len(s.URLs) > MaxICEURLs {
			return invalid("iceServers[%d]: want 1 to %d URLs", i, MaxICEURLs)
		}
		for _, u := range s.URLs {
			if err := checkText("iceServers url", u, MaxICEURLBytes); err != nil {
				return err
			}
			scheme, _, ok := strings.Cut(u, ":")
			if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
				return invalid("iceServers[%d]: URL scheme must be stun, stuns, turn or turns", i)
			}
		}
		if err := checkText("iceServers username", s.Username, MaxICECredentialBytes); err != nil {
			return err
		}
		if err := checkText("iceServers credential", s.Credential, MaxICECredentialBytes); err != nil {
			return err
		}
	}
	return nil
}

func checkCandidate(c *Candidate) error {
	if err := checkText("candidate", c.Candidate, MaxCandidateBytes); err != nil {
		return err
	}
	if c.SDPMid != nil {
		if err := checkText("sdpMid", *c.SDPMid, MaxSDPMidBytes); err != nil {
			return err
		}
	}
	if c.UsernameFragment != nil {
		if err := checkText("usernameFragment", *c.UsernameFragment, MaxUfragBytes); err != nil {
			return err
		}
	}
	return nil
}

// registerDomain separates registration signatures from every other use of a host key.
const registerDomain = "deskport-rendezvous-register-v1"

// RegisterProof is the byte string a host signs to register:
//
//	"deskport-rendezvous-register-v1" 0x00 CanonicalHost(serverHost) 0x00 nonce
//
// Binding the server's host name means a signature made for one rendezvous cannot be replayed
// to another, even by a rendezvous that relays another's challenge.
func RegisterProof(serverHost string, nonce []byte) []byte {
	h := CanonicalHost(serverHost)
	b := make([]byte, 0, len(registerDomain)+2+len(h)+len(nonce))
	b = append(b, registerDomain...)
	b = append(b, 0)
	b = append(b, h...)
	b = append(b, 0)
	return append(b, nonce...)
}

// CanonicalHost lower-cases a URL host ("Example.COM:443") and drops a default port (80 or
// 443), so that a client and a server naming the same host agree byte for byte.
func CanonicalHost(h string) string {
	h = strings.ToLower(h)
	if host, port, err := net.SplitHostPort(h); err == nil && (port == "80" || port == "443") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return h
}

// AnswersTo reports whether a server that names itself names (in CanonicalHost form) answers to
// dialled, the host part of the URL a client dialled: a name with a port matches that host and
// port only; a name without one matches the host on any port, since a server behind a port
// mapping cannot know the port its clients use.
func AnswersTo(names []string, dialled string) bool {
	dialled = CanonicalHost(dialled)
	host := dialled
	if h, _, err := net.SplitHostPort(dialled); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, n := range names {
		n = CanonicalHost(n)
		if n == dialled {
			return true
		}
		if _, _, err := net.SplitHostPort(n); err != nil && strings.TrimSuffix(strings.TrimPrefix(n, "["), "]") == host {
			return true
		}
	}
	return false
}
