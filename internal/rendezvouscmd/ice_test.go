package rendezvouscmd

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/rendezvous"
)

// TestICEFlags starts the built-in servers the way the command does and checks what the
// rendezvous will hand out, and the errors a user gets for settings that cannot work.
func TestICEFlags(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // other tests here leave Pebble's validation worker behind
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("0123456789abcdef0123\n"), 0o600)

	// STUN and TURN on one port: one server, both URLs name it.
	f := defaults()
	f.turn, f.stunListen, f.turnListen, f.publicIP = true, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1"
	ice, svc, err := f.start(log, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if ice.TURNPort == 0 || ice.STUNPort == 0 || ice.PublicHost != "127.0.0.1" || len(ice.Secret) < 16 {
		t.Fatalf("ICE config %+v", ice)
	}
	// A random port each: ":0" twice is not the same address, so two servers.
	if len(svc.servers) != 2 {
		t.Fatalf("%d servers for STUN and TURN on :0, want 2", len(svc.servers))
	}
	svc.Close()

	// The STUN port shared with TURN when both name the same address.
	port := freeUDPTCPPort(t)
	f = defaults()
	f.turn, f.publicIP = true, "127.0.0.1"
	f.stunListen = "127.0.0.1:" + strconv.Itoa(port)
	f.turnListen = f.stunListen
	f.secretFile = secretFile
	ice, svc, err = f.start(log, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.servers) != 1 || ice.STUNPort != port || ice.TURNPort != port || string(ice.Secret) != "0123456789abcdef0123" {
		t.Fatalf("shared port: %d servers, %+v", len(svc.servers), ice)
	}
	if _, err := rendezvous.New(rendezvous.Config{ICE: ice}); err != nil {
		t.Fatalf("the rendezvous refused the ICE config: %v", err)
	}
	// The port is busy now: explicit --stun-listen fails, the default only warns.
	f2 := defaults()
	f2.stunListen = f.stunListen
	if _, _, err := f2.start(log, nil, true); err == nil || !strings.Contains(err.Error(), "--stun-listen") {
		t.Fatalf("busy explicit STUN port: %v", err)
	}
	ice2, svc2, err := f2.start(log, nil, false)
	if err != nil || ice2.STUNPort != 0 {
		t.Fatalf("busy default STUN port: %+v, %v", ice2, err)
	}
	svc2.Close()
	svc.Close()

	for _, tc := range []struct {
		set  func(*iceFlags)
		want string
	}{
		{func(f *iceFlags) { f.turnTLSListen = "127.0.0.1:0" }, "--turn-tls-listen needs --turn"},
		{func(f *iceFlags) { f.turn, f.turnTLSListen = true, "127.0.0.1:0" }, "needs a certificate"},
		{func(f *iceFlags) { f.turn, f.relayPorts = true, "5000" }, "--turn-relay-ports"},
		{func(f *iceFlags) { f.turn, f.relayPorts = true, "6000-5000" }, "--turn-relay-ports"},
		{func(f *iceFlags) { f.turn, f.maxBitrate = true, "fast" }, "--turn-max-bitrate"},
		{func(f *iceFlags) { f.publicIP = "rv.example.com" }, "--public-ip"},
		{func(f *iceFlags) { f.secretFile = filepath.Join(dir, "missing") }, "--turn-secret-file"},
	} {
		f := defaults()
		f.stunListen, f.turnListen, f.publicIP = "off", "127.0.0.1:0", "127.0.0.1"
		tc.set(&f)
		if _, _, err := f.start(log, nil, true); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
	// An external TURN server without a secret to mint credentials with.
	f = defaults()
	f.stunListen, f.iceServers = "off", []string{"turn:turn.example.com:3478"}
	ice, svc, err = f.start(log, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	if _, err := rendezvous.New(rendezvous.Config{ICE: ice}); err == nil || !strings.Contains(err.Error(), "--turn-secret-file") {
		t.Fatalf("external TURN without a secret: %v", err)
	}
}

func defaults() iceFlags {
	return iceFlags{stunListen: defaultSTUNListen, turnListen: defaultSTUNListen, ttl: 10 * time.Minute, maxAllocs: 10, maxBitrate: "100M"}
}

func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int64{"100M": 100_000_000, "800k": 800_000, "1G": 1_000_000_000, "0": 0, "12345": 12345} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "1.5M", "10m"} {
		if _, err := parseBitrate(in); err == nil {
			t.Errorf("parseBitrate(%q) accepted", in)
		}
	}
}
