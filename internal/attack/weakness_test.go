package attack

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/rendezvous"
)

// fromAddr makes requests appear to come from ip through a trusted proxy (X-Forwarded-For), so
// one loopback test can play several clients' addresses. No packet goes to ip.
type fromAddr string

func (ip fromAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(ip))
	return http.DefaultTransport.RoundTrip(r)
}

// TestPendingSessionExhaustion: anyone who knows a host ID (it is not secret: it is shown, typed
// and shared) opens viewer WebSockets and sends connects without ever offering, to fill the
// host's MaxPendingPerHost for PendingTimeout. Before the fix this locked every viewer out,
// renewably (docs/security.md, "Findings"). Now one address holds at most half of the
// host's waiting attempts, and a newcomer from another address evicts the oldest attempt of the
// busiest address, so a legitimate viewer always gets in.
func TestPendingSessionExhaustion(t *testing.T) {
	hostKey := newKey(t)
	_, url := startRendezvous(t, rendezvous.Config{TrustProxyHeaders: true}, nil)
	runHost(t, url, hostKey)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Wait until the host is online (a lone connect gets a session, then is dropped).
	for i := 0; ; i++ {
		s, err := rendezvous.Dial(ctx, url, hostKey.id, nil)
		if err == nil {
			s.Close()
			break
		}
		if i == 50 {
			t.Fatalf("host never came online: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wsURL := "ws" + url[len("http"):] + "/v1/viewer"
	attack := func(ip string, conns int) (got int) {
		for range conns {
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: &http.Client{Transport: fromAddr(ip)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.CloseNow() })
			for range 4 {
				b, _ := json.Marshal(map[string]string{"type": "connect", "hostId": hostKey.id, "version": "evil/1"})
				if err := c.Write(ctx, websocket.MessageText, b); err != nil {
					t.Fatal(err)
				}
				_, reply, err := c.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				json.Unmarshal(reply, &m)
				if m["type"] == "session" {
					got++
				}
			}
		}
		return got
	}
	// One address tries to take all 8 slots from two connections: it gets half.
	if got := attack("203.0.113.7", 2); got != 4 {
		t.Fatalf("one address holds %d waiting sessions, want at most half the cap (4)", got)
	}
	// A second attacking address fills the rest.
	if got := attack("203.0.113.8", 1); got != 4 {
		t.Fatalf("a second address got %d waiting sessions, want 4", got)
	}
	// A legitimate viewer from a third address still gets in.
	s, err := rendezvous.Dial(ctx, url, hostKey.id, &rendezvous.DialOptions{HTTPClient: &http.Client{Transport: fromAddr("198.51.100.20")}})
	if err != nil {
		t.Fatalf("a legitimate viewer was locked out by pending sessions: %v", err)
	}
	s.Close()
}
