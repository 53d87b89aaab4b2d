package session

import "github.com/deskport/deskport/tempfork/webrtc"

// TransportStats is a snapshot of the SCTP association and the tunnel channel, for diagnostics
// (cmd/deskport-bench -longpath-trace samples it on the sending side of a transfer).
type TransportStats struct {
	// SCTP holds the association's congestion window, the peer's receive window less what is
	// outstanding, the smoothed RTT and the bytes sent and received.
	SCTP webrtc.SCTPTransportStats
	// Buffered is what the association holds unsent or unacknowledged, all channels together.
	Buffered int
	// TunnelBuffered is the tunnel channel's share of Buffered, TunnelLimit the limit its
	// writer is held to (see channelConn).
	TunnelBuffered, TunnelLimit uint64
}

// TransportStats samples the transport. It is safe to call at any time, from any goroutine.
func (c *Conn) TransportStats() TransportStats {
	s := TransportStats{SCTP: c.pc.SCTP().Stats(), Buffered: c.pc.SCTP().BufferedAmount()}
	if t := c.tunnel; t != nil {
		s.TunnelBuffered = t.dc.BufferedAmount()
		s.TunnelLimit = t.limit.Load()
	}
	return s
}
