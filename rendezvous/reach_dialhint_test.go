package rendezvous

import (
	"context"
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
