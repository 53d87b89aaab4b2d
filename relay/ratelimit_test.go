package relay

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func bindingRequest(t testing.TB) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestUnauthenticated(t *testing.T) {
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	build := func(setters ...stun.Setter) []byte {
		m, err := stun.Build(append([]stun.Setter{stun.TransactionID}, setters...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw
	}
	for name, c := range map[string]struct {
		b    []byte
		want bool
	}{
		"binding":                  {build(stun.BindingRequest), true},
		"binding with fingerprint": {bindingRequest(t), true},
		"allocate":                 {build(allocate, stun.NewUsername("u"), stun.Fingerprint), true},
		"allocate with integrity":  {build(allocate, stun.NewUsername("u"), stun.NewShortTermIntegrity("p"), stun.Fingerprint), false},
		"binding success":          {build(stun.BindingSuccess), false},
		"refresh":                  {build(stun.NewType(stun.MethodRefresh, stun.ClassRequest)), false},
		"channel data":             {[]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}, false},
		"short":                    {[]byte{0, 1, 0, 0}, false},
		"truncated allocate attrs": {build(allocate)[:stunHeaderLen], true},
		"wrong cookie":             {append([]byte{0, 1, 0, 0, 1, 2, 3, 4}, make([]byte, 12)...), false},
	} {
		if got := unauthenticated(c.b); got != c.want {
			t.Errorf("%s: unauthenticated = %v, want %v", name, got, c.want)
		}
	}
}

func FuzzUnauthenticated(f *testing.F) {
	f.Add(bindingRequest(f))
	f.Add([]byte{0, 3, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 8, 0, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		if unauthenticated(b) && !stun.IsMessage(b) {
			t.Fatalf("took %x for a STUN request", b)
		}
	})
}

// TestSTUNRateLimit floods the server with binding requests from one address: it answers the
// burst and drops the rest, while another address is still answered.
func TestSTUNRateLimit(t *testing.T) {
	leakCheck(t)
	s, addr := startRelay(t, Config{STUNRate: 1, STUNBurst: 5})
	server, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	flooder, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	other, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer other.Close()
	const sent = 40
	for range sent {
		if _, err := flooder.WriteTo(bindingRequest(t), server); err != nil {
			t.Fatal(err)
		}
	}
	// The server reads its socket in order: once it has answered the other address, it has
	// read (and answered or dropped) every request the flooder sent before.
	if _, err := other.WriteTo(bindingRequest(t), server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := other.ReadFrom(buf); err != nil {
		t.Fatalf("another address got no answer: %v", err)
	}
	answered := 0
	for {
		flooder.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := flooder.ReadFrom(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
		answered++
	}
	// The burst, plus a token the limiter may have refilled meanwhile (1/s).
	if answered < 5 || answered > 6 {
		t.Errorf("answered %d of %d requests from one address, want the burst of 5 (or 6)", answered, sent)
	}
	if d := s.STUNDropped(); d != int64(sent-answered) {
		t.Errorf("STUNDropped = %d, want %d", d, sent-answered)
	}
}
