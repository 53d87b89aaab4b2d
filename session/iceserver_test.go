package session

import (
	"strings"
	"testing"
)

func TestParseICEServer(t *testing.T) {
	for _, tc := range []struct {
		in, user, cred, err string
	}{
		{in: "stun:stun.example.com:3478"},
		{in: "stun:[2001:db8::1]:3478"},
		{in: "turn:turn.example.com:3478?transport=udp,alice,s3cret", user: "alice", cred: "s3cret"},
		{in: "turns:turn.example.com:443?transport=tcp,alice,s3cret", user: "alice", cred: "s3cret"},
		{in: "turn:turn.example.com:3478", err: "needs credentials"},
		{in: "http://example.com", err: "must start with"},
		{in: "stun:a,b", err: "want URL or URL,username,credential"},
		{in: "stun:", err: "ICE server"},
	} {
		s, err := ParseICEServer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.Username != tc.user || (tc.cred == "") != (s.Credential == nil) || (tc.cred != "" && s.Credential != tc.cred) || len(s.URLs) != 1 {
			t.Errorf("%q: %+v, %v", tc.in, s, err)
		}
	}
}
