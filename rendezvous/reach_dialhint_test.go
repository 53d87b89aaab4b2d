package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestDialAdviceTimeout: a rendezvous port that a firewall drops (no answer, no refusal) ends
// in a dial timeout after the client's 30 s; the advice names the address and the firewall,
// not only the flag. The error is built as the WebSocket dial wraps a timed-out TCP dial (the
// e2e test covers a refused port through the real viewer; waiting out a dropped one there
// would take 30 s).
func TestDialAdviceTimeout(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	err := fmt.Errorf("failed to WebSocket dial: failed to send handshake request: %w",
		&url.Error{Op: "Get", URL: "https://rv.example.com/v1/viewer", Err: dial})
	got := dialAdvice(err, "https://rv.example.com", 0, "")
	for _, want := range []string{"nothing answered from rv.example.com:443", "firewall"} {
		if !strings.Contains(got, want) {
			t.Errorf("advice %q lacks %q", got, want)
		}
	}
	if got := dialAdvice(fmt.Errorf("dial: %w", context.Canceled), "https://rv.example.com", 0, ""); got != defaultDialAdvice {
		t.Errorf("a cancelled dial got %q", got)
	}
	if got := dialAdvice(err, "http://rv.example.com", 0, ""); !strings.Contains(got, "rv.example.com:80") {
		t.Errorf("plain http: %q, want port 80 named", got)
	}
}

// TestWrongNameSuggestsTheSameScheme: a host that dialled a plain-http rendezvous under a name
// the server does not answer to is told the name to use with http://, the scheme that server
// speaks (it was told https://, which that server does not serve).
func TestWrongNameSuggestsTheSameScheme(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{PublicHosts: []string{"rendezvous.example.com:8080"}})
	key, _ := newKey(t)
	err := (&HostClient{URL: ts.URL, Key: key}).Run(ctx10(t), func(*Session) {})
	if !errors.Is(err, ErrWrongRendezvous) {
		t.Fatalf("Run = %v, want ErrWrongRendezvous", err)
	}
	if !strings.HasPrefix(ts.URL, "http://") || !strings.Contains(err.Error(), "e.g. http://rendezvous.example.com:8080") {
		t.Fatalf("the host dialled %s; error %q does not suggest http://rendezvous.example.com:8080", ts.URL, err)
	}
}
