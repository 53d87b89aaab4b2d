package session

import (
	"strings"
	"testing"

	"github.com/deskport/deskport/tempfork/webrtc"
)

func TestParseCandidate(t *testing.T) {
	for _, tc := range []struct {
		in, typ, proto, ip string
		ok                 bool
	}{
		{"candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host", "host", "udp", "192.0.2.1", true},
		{"candidate:2 1 UDP 1686052607 198.51.100.7 61000 typ srflx raddr 10.0.0.2 rport 5000", "srflx", "udp", "198.51.100.7", true},
		{"1 1 tcp 1 127.0.0.1 9 typ host tcptype active", "host", "tcp", "127.0.0.1", true},
		{"candidate:3 1 udp 1 abcd.local 5000 typ host", "host", "udp", "", true},
		{"candidate:4 1 udp 1 192.0.2.1 5000 host", "", "", "", false},
		{"", "", "", "", false},
	} {
		typ, proto, ip, ok := parseCandidate(tc.in)
		got := ""
		if ip != nil {
			got = ip.String()
		}
		if ok != tc.ok || typ != tc.typ || proto != tc.proto || got != tc.ip {
			t.Errorf("parseCandidate(%q) = %q %q %q %v, want %q %q %q %v", tc.in, typ, proto, got, ok, tc.typ, tc.proto, tc.ip, tc.ok)
		}
	}
}

// FuzzParseCandidate feeds candidate lines as a peer may send them: parsing never panics, and
// what it accepts is the line's own words.
func FuzzParseCandidate(f *testing.F) {
	f.Add("candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host")
	f.Add("candidate:2 1 UDP 1686052607 198.51.100.7 61000 typ srflx raddr 10.0.0.2 rport 5000")
	f.Add("a b c d e f typ")
	f.Fuzz(func(t *testing.T, s string) {
		typ, proto, _, ok := parseCandidate(s)
		if ok && (!strings.Contains(s, typ) || !strings.Contains(strings.ToLower(s), proto)) {
			t.Fatalf("parseCandidate(%q) made up %q %q", s, typ, proto)
		}
		a := newICEAttempt(nil)
		a.addRemoteSDP(s)
		_ = a.explain(nil, 0, 0, "peer").Error()
	})
}

// TestPathAdvice checks the advice for each way set-up can fail before a path is found.
func TestPathAdvice(t *testing.T) {
	stun := []webrtc.ICEServer{{URLs: []string{"stun:rv.example:3478"}}}
	turn := []webrtc.ICEServer{{URLs: []string{"stun:rv.example:3478", "turn:rv.example:3478"}}}
	for _, tc := range []struct {
		name          string
		servers       []webrtc.ICEServer
		local, remote []string // "type/proto"
		want          []string
	}{
		{"two symmetric NATs, no relay", stun, []string{"host/udp", "srflx/udp"}, []string{"host/udp", "srflx/udp"},
			[]string{"no TURN relay on either end", "start the rendezvous with --turn"}},
		{"no STUN at all", nil, []string{"host/udp"}, []string{"host/udp"},
			[]string{"no TURN relay", "this end has no STUN server"}},
		{"UDP blocked here", stun, []string{"host/udp"}, []string{"host/udp", "srflx/udp"},
			[]string{"the STUN server (stun:rv.example:3478) did not answer: UDP from here is blocked"}},
		{"TURN gave nothing", turn, []string{"host/udp", "srflx/udp"}, []string{"host/udp", "srflx/udp"},
			[]string{"the TURN server (turn:rv.example:3478) gave this end no relay address"}},
		{"relays on both ends", turn, []string{"host/udp", "relay/udp"}, []string{"host/udp", "relay/udp"},
			[]string{"even the relays did not connect"}},
		{"silent peer", stun, []string{"host/udp", "srflx/udp"}, nil,
			[]string{"the host sent no candidates", "; the peer offered no candidates"}},
	} {
		a := newICEAttempt(tc.servers)
		for _, l := range tc.local {
			typ, proto, _ := strings.Cut(l, "/")
			a.mu.Lock()
			a.local[typ+"/"+proto] = true
			a.mu.Unlock()
		}
		for _, r := range tc.remote {
			typ, proto, _ := strings.Cut(r, "/")
			a.addRemote(typ, proto)
		}
		msg := a.explain(ErrHandshakeTimeout, 4, 0, "host").Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q lacks %q", tc.name, msg, w)
			}
		}
	}
}
