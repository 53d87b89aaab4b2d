package signaling

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/deskport/deskport/identity"
)

var (
	testPub, _, _ = ed25519.GenerateKey(nil)
	testHostID    = identity.HostID(testPub)
	testNonce     = base64.StdEncoding.EncodeToString(make([]byte, NonceBytes))
	testSig       = base64.StdEncoding.EncodeToString(make([]byte, 64))
	testKey       = base64.StdEncoding.EncodeToString(testPub)
	testSess      = strings.Repeat("ab", 16)
)

func ptr[T any](v T) *T { return &v }

// validMessages holds one valid message of every type (several for some).
func validMessages() []*Message {
	ice := []ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}, {URLs: []string{"turn:t.example.com?transport=udp", "turns:t.example.com"}, Username: "u", Credential: "c"}}
	return []*Message{
		{Type: TypeChallenge, Nonce: testNonce},
		{Type: TypeChallenge, Nonce: testNonce, Names: []string{"rv.example.com", "rv.example.com:8443", "[2001:db8::1]:443", "192.0.2.1"}},
		{Type: TypeRegister, PublicKey: testKey, Signature: testSig, Version: "deskport/0.1.0"},
		{Type: TypeRegistered, HostID: testHostID, ICEServers: ice},
		{Type: TypeRegistered, HostID: testHostID},
		{Type: TypeConnect, HostID: testHostID, Version: "v1.2.3+dirty"},
		{Type: TypeSession, Session: testSess, HostID: testHostID, ICEServers: ice},
		{Type: TypeOffer, Session: testSess, SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
		{Type: TypeOffer, Session: testSess, SDP: "v=0\r\n", ViewerAddr: "192.0.2.1:5000", ICEServers: ice},
		{Type: TypeOffer, Session: testSess, SDP: "v=0\r\n", ViewerAddr: "[2001:db8::1]:5000"},
		{Type: TypeAnswer, Session: testSess, SDP: "v=0\r\n"},
		{Type: TypeCandidate, Session: testSess, Candidate: &Candidate{Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0))}},
		{Type: TypeCandidate, Session: testSess, Candidate: &Candidate{}},
		{Type: TypeBye, Session: testSess},
		{Type: TypeBye, Session: testSess, Reason: "user closed the viewer", Code: ByePeerGone},
		{Type: TypeError, Code: CodeHostOffline, Message: "host is not online"},
		{Type: TypeError, Code: CodeUnknownSession, Message: "no such session", Session: testSess},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range validMessages() {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", m, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		b2, err := Encode(got)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("round trip changed %s to %s (%v)", b, b2, err)
		}
	}
}

func TestDecodeAcceptsBrowserCandidate(t *testing.T) {
	in := `{"type":"candidate","session":"` + testSess + `","candidate":{"candidate":"","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}}`
	m, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidate.Candidate != "" || m.Candidate.SDPMid != nil {
		t.Fatalf("got %+v", m.Candidate)
	}
}

func TestDecodeRefuses(t *testing.T) {
	s := func(n int) string { return strings.Repeat("a", n) }
	sess := `"session":"` + testSess + `"`
	tests := []struct {
		name, in string
	}{
		{"empty", ``},
		{"not object", `[]`},
		{"no type", `{"nonce":"` + testNonce + `"}`},
		{"unknown type", `{"type":"hello"}`},
		{"type not string", `{"type":1}`},
		{"unknown field", `{"type":"bye",` + sess + `,"extra":1}`},
		{"field of another type", `{"type":"bye",` + sess + `,"sdp":"v=0"}`},
		{"case-folded key", `{"type":"bye","Session":"` + testSess + `"}`},
		{"duplicate key", `{"type":"bye",` + sess + `,` + sess + `}`},
		{"trailing data", `{"type":"bye",` + sess + `} {}`},
		{"null field", `{"type":"bye",` + sess + `,"reason":null}`},
		{"missing required", `{"type":"offer",` + sess + `}`},
		{"empty required", `{"type":"offer",` + sess + `,"sdp":""}`},
		{"invalid utf8", "{\"type\":\"bye\"," + sess + ",\"reason\":\"\xff\"}"},
		{"control char", `{"type":"bye",` + sess + `,"reason":"a\u001bb"}`},
		{"nonce short", `{"type":"challenge","nonce":"AAAA"}`},
		{"names empty", `{"type":"challenge","nonce":"` + testNonce + `","names":[]}`},
		{"names empty name", `{"type":"challenge","nonce":"` + testNonce + `","names":[""]}`},
		{"names upper case", `{"type":"challenge","nonce":"` + testNonce + `","names":["RV.example.com"]}`},
		{"names control", `{"type":"challenge","nonce":"` + testNonce + `","names":["a\u001bb"]}`},
		{"names too long", `{"type":"challenge","nonce":"` + testNonce + `","names":["` + strings.Repeat("a", MaxNameBytes+1) + `"]}`},
		{"names too many", `{"type":"challenge","nonce":"` + testNonce + `","names":[` + strings.Repeat(`"a",`, MaxNames) + `"a"]}`},
		{"names not strings", `{"type":"challenge","nonce":"` + testNonce + `","names":[1]}`},
		{"names on register", `{"type":"register","publicKey":"` + testKey + `","signature":"` + testSig + `","version":"1","names":["a"]}`},
		{"nonce not base64", `{"type":"challenge","nonce":"` + s(43) + `!"}`},
		{"key wrong size", `{"type":"register","publicKey":"` + testNonce[:40] + `","signature":"` + testSig + `","version":"1"}`},
		{"version too long", `{"type":"connect","hostId":"` + testHostID + `","version":"` + s(MaxVersionBytes+1) + `"}`},
		{"version charset", `{"type":"connect","hostId":"` + testHostID + `","version":"1 2"}`},
		{"host id upper", `{"type":"connect","hostId":"` + strings.ToUpper(testHostID) + `","version":"1"}`},
		{"host id short", `{"type":"connect","hostId":"abc","version":"1"}`},
		{"session id upper", `{"type":"bye","session":"` + strings.ToUpper(testSess) + `"}`},
		{"session id long", `{"type":"bye","session":"` + testSess + `0"}`},
		{"sdp too big", `{"type":"answer",` + sess + `,"sdp":"` + s(MaxSDPBytes+1) + `"}`},
		{"candidate too big", `{"type":"candidate",` + sess + `,"candidate":{"candidate":"` + s(MaxCandidateBytes+1) + `"}}`},
		{"sdpMid too big", `{"type":"candidate",` + sess + `,"candidate":{"candidate":"","sdpMid":"` + s(MaxSDPMidBytes+1) + `"}}`},
		{"candidate unknown field", `{"type":"candidate",` + sess + `,"candidate":{"candidate":"","x":1}}`},
		{"candidate missing string", `{"type":"candidate",` + sess + `,"candidate":{"sdpMid":"0"}}`},
		{"candidate not object", `{"type":"candidate",` + sess + `,"candidate":"a"}`},
		{"mline negative", `{"type":"candidate",` + sess + `,"candidate":{"candidate":"","sdpMLineIndex":-1}}`},
		{"error message too big", `{"type":"error","code":"bad_request","message":"` + s(MaxErrorMessageBytes+1) + `"}`},
		{"error code charset", `{"type":"error","code":"Bad","message":"m"}`},
		{"error code too long", `{"type":"error","code":"` + s(MaxCodeBytes+1) + `","message":"m"}`},
		{"reason too big", `{"type":"bye",` + sess + `,"reason":"` + s(MaxReasonBytes+1) + `"}`},
		{"viewer addr bad", `{"type":"offer",` + sess + `,"sdp":"v","viewerAddr":"example.com:1"}`},
		{"viewer addr zone escape", `{"type":"offer",` + sess + `,"sdp":"v","viewerAddr":"[fe80::1%\u001b[2J]:5000"}`},
		{"viewer addr zone", `{"type":"offer",` + sess + `,"sdp":"v","viewerAddr":"fe80::1%eth0"}`},
		{"viewer addr zone port", `{"type":"offer",` + sess + `,"sdp":"v","viewerAddr":"[fe80::1%eth0]:5000"}`},
		{"viewer addr bell", `{"type":"offer",` + sess + `,"sdp":"v","viewerAddr":"[fe80::1%\u0007\r]:1"}`},
		{"too many ice servers", `{"type":"registered","hostId":"` + testHostID + `","iceServers":[` + strings.Repeat(`{"urls":["stun:a"]},`, MaxICEServers) + `{"urls":["stun:a"]}]}`},
		{"ice url scheme", `{"type":"registered","hostId":"` + testHostID + `","iceServers":[{"urls":["http://a"]}]}`},
		{"ice no urls", `{"type":"registered","hostId":"` + testHostID + `","iceServers":[{"urls":[]}]}`},
		{"ice unknown field", `{"type":"registered","hostId":"` + testHostID + `","iceServers":[{"urls":["stun:a"],"credentialType":"password"}]}`},
		{"ice username too big", `{"type":"registered","hostId":"` + testHostID + `","iceServers":[{"urls":["stun:a"],"username":"` + s(MaxICECredentialBytes+1) + `"}]}`},
		{"too big", `{"type":"bye",` + sess + `,"reason":"` + s(MaxMessageBytes) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode accepted %.200s as %+v", tt.in, m)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	s := func(n int) string { return strings.Repeat("a", n) }
	ok := []*Message{
		{Type: TypeAnswer, Session: testSess, SDP: s(MaxSDPBytes)},
		{Type: TypeCandidate, Session: testSess, Candidate: &Candidate{Candidate: s(MaxCandidateBytes), SDPMid: ptr(s(MaxSDPMidBytes))}},
		{Type: TypeError, Code: s(MaxCodeBytes), Message: s(MaxErrorMessageBytes)},
		{Type: TypeBye, Session: testSess, Reason: s(MaxReasonBytes)},
		{Type: TypeConnect, HostID: testHostID, Version: s(MaxVersionBytes)},
	}
	for _, m := range ok {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode at the limit: %v", err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("Decode at the limit: %v", err)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	for _, m := range []*Message{
		{Type: "nope"},
		{Type: TypeBye},
		{Type: TypeBye, Session: testSess, SDP: "x"},
		{Type: TypeAnswer, Session: testSess, SDP: strings.Repeat("a", MaxSDPBytes+1)},
	} {
		if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%.100v) = %v, want ErrInvalid", m, err)
		}
	}
}

func TestRegisterProof(t *testing.T) {
	nonce := []byte{1, 2, 3}
	for _, pair := range [][2]string{
		{"Example.COM", "example.com"},
		{"example.com:443", "example.com"},
		{"example.com:80", "example.com"},
		{"[::1]:443", "[::1]"},
	} {
		if string(RegisterProof(pair[0], nonce)) != string(RegisterProof(pair[1], nonce)) {
			t.Errorf("proofs for %q and %q differ", pair[0], pair[1])
		}
	}
	if string(RegisterProof("a.example:8443", nonce)) == string(RegisterProof("a.example", nonce)) {
		t.Error("a non-default port must be part of the proof")
	}
	want := "deskport-rendezvous-register-v1\x00example.com\x00\x01\x02\x03"
	if got := string(RegisterProof("example.com", nonce)); got != want {
		t.Errorf("RegisterProof = %q, want %q", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range validMessages() {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `{"type":"bye"}`, `{"type":"bye","session":"` + testSess + `","session":"x"}`,
		`{"type":"candidate","session":"` + testSess + `","candidate":{"candidate":"","sdpMid":null}}`,
		`{"type":"offer","session":"` + testSess + `","sdp":"\u0000"}`, `{"type":"error","code":"x","message":"m","Message":"n"}`,
		"{\"type\":\"bye\",\"session\":\"\xff\"}", `{"type":"registered","hostId":"x","iceServers":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatal("Decode returned a message and an error")
			}
			return
		}
		// An address the host will print never carries a zone or a control byte.
		for _, c := range []byte(m.ViewerAddr) {
			if c < 0x20 || c >= 0x7f || c == '%' {
				t.Fatalf("Decode accepted viewerAddr %q", m.ViewerAddr)
			}
		}
		// Whatever Decode accepts must encode, and decode again to the same thing.
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode of a decoded message failed: %v (%s)", err, b)
		}
		m2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-Decode failed: %v (%s)", err, out)
		}
		out2, _ := Encode(m2)
		if string(out) != string(out2) {
			t.Fatalf("not stable: %s vs %s", out, out2)
		}
	})
}

func TestAnswersTo(t *testing.T) {
	names := []string{"rv.example.com", "other.example.com:8443", "[2001:db8::1]", "192.0.2.1:9000"}
	for _, tt := range []struct {
		dialled string
		want    bool
	}{
		{"rv.example.com", true},
		{"RV.Example.com:443", true},
		{"rv.example.com:8443", true}, // no port in the name: any port
		{"other.example.com:8443", true},
		{"other.example.com", false}, // the name pins 8443
		{"other.example.com:9443", false},
		{"[2001:db8::1]:8443", true},
		{"[2001:db8::1]", true},
		{"192.0.2.1:9000", true},
		{"192.0.2.1", false},
		{"evil.example.com", false},
		{"rv.example.com.evil.example", false},
		{"", false},
	} {
		if got := AnswersTo(names, tt.dialled); got != tt.want {
			t.Errorf("AnswersTo(%q) = %v, want %v", tt.dialled, got, tt.want)
		}
	}
}
