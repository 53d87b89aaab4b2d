package session

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"
	"github.com/deskport/deskport/tempfork/webrtc"
)

// Flow control for detached data channels. pion's detached Write never blocks and queues without
// limit, so a fast sender would buffer a whole file in memory. channelConn blocks a writer while
// more than its limit waits in the channel's send buffer (pion counts queued and unacknowledged
// bytes) and wakes it when the buffer drains below a quarter of it.
//
// The limit follows the path: twice the bandwidth-delay product, from the channel's own
// acknowledged rate and the association's smoothed RTT, between minLimit and maxLimit. All
// channels share one SCTP association. Its send queue does not hold a key press behind queued
// tunnel data: the interactive channel sends at a higher priority (session.go; tempfork/sctp's
// Stream.SetPriority, and between two pion peers I-DATA interleaving besides). But whatever the
// tunnel has in flight — sent, in socket buffers and the receiver's queues, not yet acknowledged —
// is ahead of it on the wire, and the limit bounds that along with the congestion window.
// Measured on loopback with a forward flat out (internal/keylatency): a fixed 4 MiB gave a
// key-press p99 of 37 ms, a fixed 256 KiB 5 ms at the same throughput; on a 150 ms path 256 KiB
// would cap a channel at 1.7 MB/s, hence the adaptive limit.
const (
	minLimit       = 256 << 10
	maxLimit       = 32 << 20
	sampleInterval = 100 * time.Millisecond
	// cwndLimitGain and cwndLimitMinRTT: on paths whose minimum RTT is cwndLimitMinRTT or more,
	// the limit is at least cwndLimitGain × the association's congestion window (adapt).
	cwndLimitGain   = 1.5
	cwndLimitMinRTT = 5 * time.Millisecond
)

// channelConn is one detached data channel with message semantics (one Write, one message) and
// blocking, bounded writes. It satisfies mux.MessageConn and the io.ReadWriter that auth uses.
type channelConn struct {
	dc  *webrtc.DataChannel
	rwc datachannel.ReadWriteCloserDeadliner

	srtt func() time.Duration // the association's smoothed round-trip time

	mu      sync.Mutex
	drained chan struct{} // closed and replaced whenever the buffer drops below the low mark

	// Written by Write only (one writer at a time: the adapter's or the auth handshake's).
	written    uint64
	lastAcked  uint64
	lastSample time.Time
	rate       float64                    // acknowledged bytes per second, smoothed
	limit      atomic.Uint64              // written by adapt under the writer, read by TransportStats too
	path       atomic.Pointer[pathWindow] // the association's path window, as adapt saw it last

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

func newChannelConn(dc *webrtc.DataChannel, srtt func() time.Duration) (*channelConn, error) {
	rwc, err := dc.DetachWithDeadline()
	if err != nil {
		return nil, err
	}
	c := &channelConn{dc: dc, rwc: rwc, srtt: srtt, drained: make(chan struct{}), closed: make(chan struct{})}
	c.limit.Store(minLimit)
	dc.SetBufferedAmountLowThreshold(minLimit / 4)
	dc.OnBufferedAmountLow(func() {
		c.mu.Lock()
		close(c.drained)
		c.drained = make(chan struct{})
		c.mu.Unlock()
	})
	return c, nil
}

func (c *channelConn) Read(p []byte) (int, error) {
	n, err := c.rwc.Read(p)
	if err != nil {
		select {
		case <-c.closed:
			return n, io.EOF
		default:
		}
		if errors.Is(err, io.ErrClosedPipe) {
			err = io.EOF
		}
	}
	return n, err
}

// adapt re-estimates the limit at most every sampleInterval.
func (c *channelConn) adapt(buffered uint64) {
	now := time.Now()
	if c.lastSample.IsZero() {
		c.lastSample = now
		return
	}
	dt := now.Sub(c.lastSample)
	if dt < sampleInterval {
		return
	}
	acked := c.written - min(buffered, c.written)
	inst := float64(acked-min(c.lastAcked, acked)) / dt.Seconds()
	// A rising rate is taken at once, a falling one smoothed: in slow start the rate doubles every
	// RTT, and a limit that lags it leaves pion's send queue empty, which stops the congestion
	// window from growing (pion grows it only while data waits). 64 MiB at 150 ms RTT: 30 → 35 MB/s.
	c.rate = max(inst, 0.5*c.rate+0.5*inst)
	c.lastAcked, c.lastSample = acked, now
	rtt := time.Millisecond
	if c.srtt != nil {
		rtt = max(c.srtt(), rtt)
	}
	limit := uint64(2 * c.rate * rtt.Seconds())
	// On a long path the acknowledged rate lags the window by a round trip and more (it is what
	// came back, sampled every 100 ms), so in slow start, or from a resumed window, a limit of
	// twice that rate held pion's send queue empty: the limit did its own, slower, slow start
	// ahead of SCTP's (traced at 150 ms: 0.3-0.9 MiB buffered for 600 ms under a 10 MiB
	// window). The limit is at least cwndLimitGain × the congestion window there, so the queue
	// always holds more than SCTP may send. Short paths (by the minimum RTT: the smoothed one
	// grows with the queues) keep the rate alone: their window grows unchecked (no loss at
	// 0 ms), and each queued byte delays a key press.
	if c.dc != nil {
		if t := c.dc.Transport(); t != nil {
			w, pathRTT := t.PathWindow()
			if w > 0 && pathRTT > 0 {
				c.path.Store(&pathWindow{window: w, minRTT: pathRTT})
			}
			if pathRTT == 0 { // no sample yet (the sender's first round trip)
				pathRTT = rtt
			}
			if pathRTT >= cwndLimitMinRTT {
				limit = max(limit, uint64(cwndLimitGain*float64(t.Stats().CongestionWindow)))
			}
		}
	}
	limit = min(max(limit, minLimit), maxLimit)
	if limit != c.limit.Load() {
		c.limit.Store(limit)
		c.dc.SetBufferedAmountLowThreshold(limit / 4)
	}
}

func (c *channelConn) Write(p []byte) (int, error) {
	for {
		c.mu.Lock()
		wait := c.drained
		c.mu.Unlock()
		buffered := c.dc.BufferedAmount()
		c.adapt(buffered)
		if buffered <= c.limit.Load() {
			break
		}
		// The low-water callback may have fired between the check and here; re-check on a
		// timer as well so a missed wake-up costs at most a few milliseconds, never a hang.
		select {
		case <-wait:
		case <-c.closed:
			return 0, io.ErrClosedPipe
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-c.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	n, err := c.rwc.Write(p)
	c.written += uint64(n)
	return n, err
}

// SetReadDeadline lets the auth handshake bound its reads.
func (c *channelConn) SetReadDeadline(t time.Time) error { return c.rwc.SetReadDeadline(t) }

func (c *channelConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		// pion's Close only asks the peer to reset the stream; a Read stays blocked until it
		// does, which never happens when the peer is gone. An expired deadline wakes the
		// reader now (and leaves no pion timer goroutine behind).
		_ = c.rwc.SetReadDeadline(time.Now())
		c.closeErr = c.rwc.Close()
	})
	return c.closeErr
}
