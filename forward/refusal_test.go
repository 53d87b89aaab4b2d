package forward

import (
	"context"
	"strings"
	"testing"
)

// TestRefusalSaysItOnce: a refused -R or -L reads as one sentence. The host's listen refusal
// carried the sentinel's words and the viewer added them again ("listen address not allowed
// by the host: forward: listen address not allowed by the host: 127.0.0.1:9000; ...").
func TestRefusalSaysItOnce(t *testing.T) {
	leakCheck(t)
	tr := transports[0]
	lp, _ := NewListenPolicy([]string{"127.0.0.1:9000"})
	pol := policyFor(t, "127.0.0.1:5432")
	for _, tc := range []struct {
		cfg  ServerConfig
		bind string
	}{
		{ServerConfig{}, "127.0.0.1:9000"},
		{ServerConfig{ListenPolicy: lp}, "127.0.0.1:9001"},
	} {
		e := newEnv(t, tr, tc.cfg)
		err := e.client.Remote(context.Background(), tc.bind, "127.0.0.1:1", nil)
		if err == nil || strings.Count(err.Error(), "not allowed by the host") != 1 || strings.Contains(err.Error(), "forward: listen") {
			t.Errorf("Remote(%s) = %v; want the refusal said once", tc.bind, err)
		}
	}
	e := newEnv(t, tr, ServerConfig{Policy: pol})
	_, err := e.client.Dial(context.Background(), "127.0.0.1:5433")
	if err == nil || strings.Count(err.Error(), "not allowed by the host") != 1 {
		t.Errorf("Open(127.0.0.1:5433) = %v; want the refusal said once", err)
	}
}
