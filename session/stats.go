package session

import (
	"time"

	"github.com/deskport/deskport/tempfork/webrtc"
)

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
	// PathWindow and MinRTT are what the association measured of its path (the window one
	// round trip delivered at its best recent rate, and the smallest RTT); PacingRate is the
	// rate the pacer holds the sockets to, in bytes a second (0: not pacing).
	PathWindow uint32
	MinRTT     time.Duration
	PacingRate uint64
}

// TransportStats samples the transport. It is safe to call at any time, from any goroutine.
func (c *Conn) TransportStats() TransportStats {
	s := TransportStats{SCTP: c.pc.SCTP().Stats(), Buffered: c.pc.SCTP().BufferedAmount()}
	if t := c.tunnel; t != nil {
		s.TunnelBuffered = t.dc.BufferedAmount()
		s.TunnelLimit = t.limit.Load()
	}
	s.PathWindow, s.MinRTT = c.pc.SCTP().PathWindow()
	if c.pace != nil {
		s.PacingRate = c.pace.rate.Load()
	}
	return s
}
