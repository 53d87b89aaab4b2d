package session

import (
	"testing"

	"github.com/deskport/deskport/tempfork/datachannel"
)

// Both ends send the interactive channel's messages at a higher priority than the tunnel's, so a
// key press leaves the SCTP send queue before queued forward data (tempfork/sctp's
// Stream.SetPriority).
func TestInteractiveChannelPriority(t *testing.T) {
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("viewer: %v, host: %v", verr, herr)
	}
	for side, c := range map[string]*Conn{"viewer": viewer.Conn, "host": host.Conn} {
		if got := c.interactive.dc.Priority(); got != datachannel.ChannelPriorityHigh {
			t.Errorf("%s: interactive channel priority %d, want %d", side, got, datachannel.ChannelPriorityHigh)
		}
		if got := c.tunnel.dc.Priority(); got != datachannel.ChannelPriorityNormal {
			t.Errorf("%s: tunnel channel priority %d, want %d", side, got, datachannel.ChannelPriorityNormal)
		}
	}
}
