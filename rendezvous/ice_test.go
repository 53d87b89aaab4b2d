package rendezvous

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/turncred"
)

// TestICEServersPerSession checks the ICE servers each end receives: built-in STUN and TURN
// named by the address that end used to reach the rendezvous, an external TURN server, and
// TURN REST credentials minted for the session that a server sharing the secret accepts — and
// that no credential reaches the log.
func TestICEServersPerSession(t *testing.T) {
	leakCheck(t)
	secret := []byte("0123456789abcdef0123")
	var logs syncBuffer
	ice := &ICEConfig{
		STUNPort: 3478, TURNPort: 3478, TURNTLSPort: 5349, Secret: secret, CredentialTTL: 5 * time.Minute,
		External: []ICEServer{{URLs: []string{"turns:turn.example.com:443?transport=tcp"}}},
	}
	ts := startServer(t, Config{
		ICE:        ice,
		ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}},
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	// The host reaches the server as localhost, the viewer as 127.0.0.1.
	hostURL := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	key, _ := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: hostURL, Key: key})
	hostID := <-ts.registered
	ctx := ctx10(t)
	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vice := v.ICEServers()
	if len(vice) != 4 {
		t.Fatalf("viewer got %d ICE servers, want 4: %+v", len(vice), vice)
	}
	if got := vice[0].URLs[0]; got != "stun:stun.example.com:3478" {
		t.Errorf("static server %q", got)
	}
	if got := vice[1]; len(got.URLs) != 1 || got.URLs[0] != "stun:127.0.0.1:3478" || got.Username != "" {
		t.Errorf("built-in STUN for the viewer: %+v", got)
	}
	want := []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turns:127.0.0.1:5349?transport=tcp"}
	if got := vice[2].URLs; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("built-in TURN for the viewer: %v, want %v", got, want)
	}
	checkTURN(t, vice[2], secret, v.ID(), ice.CredentialTTL)
	if got := vice[3]; got.URLs[0] != "turns:turn.example.com:443?transport=tcp" || got.Username != vice[2].Username || got.Credential != vice[2].Credential {
		t.Errorf("external TURN: %+v", got)
	}

	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	h := <-accepted
	hice := h.ICEServers()
	if len(hice) != 4 || hice[1].URLs[0] != "stun:localhost:3478" || hice[2].URLs[2] != "turns:localhost:5349?transport=tcp" {
		t.Fatalf("host got %+v", hice)
	}
	checkTURN(t, hice[2], secret, v.ID(), ice.CredentialTTL)
	v.Close()
	for _, s := range append(vice, hice...) {
		if s.Credential != "" && strings.Contains(logs.String(), s.Credential) {
			t.Fatal("a TURN credential reached the log")
		}
	}
	if strings.Contains(logs.String(), string(secret)) {
		t.Fatal("the TURN secret reached the log")
	}
}

// TestICEPublicHost checks that PublicHost names the built-in servers (TURN over TLS keeps the
// name the client used, which its certificate holds), and that a registered host, which has no
// session yet, gets no TURN credentials.
func TestICEPublicHost(t *testing.T) {
	ice := &ICEConfig{STUNPort: 3478, TURNPort: 3479, TURNTLSPort: 443, PublicHost: "2001:db8::7", Secret: []byte("0123456789abcdef")}
	got := ice.servers(nil, "rv.example.com", "s1", time.Now())
	if len(got) != 2 || got[0].URLs[0] != "stun:[2001:db8::7]:3478" || got[1].URLs[0] != "turn:[2001:db8::7]:3479?transport=udp" || got[1].URLs[2] != "turns:rv.example.com:443?transport=tcp" {
		t.Fatalf("%+v", got)
	}
	ice.TURNTLSHost = "turn.example.com"
	if got := ice.servers(nil, "rv.example.com", "s1", time.Now()); got[1].URLs[2] != "turns:turn.example.com:443?transport=tcp" {
		t.Fatalf("TURNTLSHost: %v", got[1].URLs)
	}
	if got := ice.servers(nil, "rv.example.com", "", time.Now()); len(got) != 1 || got[0].Username != "" {
		t.Fatalf("without a session: %+v", got)
	}
	if err := (Config{ICE: &ICEConfig{TURNPort: 3478}}).Validate(); err == nil {
		t.Fatal("TURN without a secret was accepted")
	}
	if err := (Config{ICE: &ICEConfig{External: []ICEServer{{URLs: []string{"turn:x:3478"}}}}}).Validate(); err == nil {
		t.Fatal("an external TURN server without a secret was accepted")
	}
}

// checkTURN verifies a minted TURN server entry: REST username for session, a password that a
// server with the secret derives, an expiry within the TTL.
func checkTURN(t *testing.T, s ICEServer, secret []byte, session string, ttl time.Duration) {
	t.Helper()
	exp, err := turncred.Expiry(s.Username)
	if err != nil || !strings.HasSuffix(s.Username, ":"+session) {
		t.Fatalf("username %q: %v", s.Username, err)
	}
	if d := time.Until(exp); d <= 0 || d > ttl+time.Second {
		t.Fatalf("credential expires in %v, want within %v", d, ttl)
	}
	if pw, err := turncred.Check(secret, s.Username, time.Now()); err != nil || pw != s.Credential {
		t.Fatalf("credential does not verify: %v", err)
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"rv.example.com:8080": "rv.example.com", "rv.example.com": "rv.example.com", "10.0.0.5:80": "10.0.0.5",
		"[2001:db8::1]:443": "2001:db8::1", "[fe80::1%eth0]:80": "fe80::1", "": "", "a_b:80": "a_b",
		strings.Repeat("a", 300): "", "x/y": "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
