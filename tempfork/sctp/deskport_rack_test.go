package sctp

import (
	"sync"
	"testing"
	"time"
)

// TestRACKRecoversLostRetransmission: one DATA chunk is lost, and so is its first
// retransmission, in the middle of a transfer that goes on sending. RACK must mark the lost
// retransmission lost once chunks sent after it are acknowledged and send it again, without
// waiting for T3-rtx (which would collapse the window to one MTU and resend everything
// outstanding).
func TestRACKRecoversLostRetransmission(t *testing.T) {
	var (
		mu      sync.Mutex
		target  uint32
		armed   bool
		dropped int
	)
	drop := func(raw []byte) bool {
		p := &packet{}
		if err := p.unmarshal(false, raw); err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range p.chunks {
			d, ok := c.(*chunkPayloadData)
			if !ok {
				continue
			}
			if !armed {
				target, armed = d.tsn+300, true
			}
			if d.tsn == target && dropped < 2 {
				dropped++

				return true
			}
		}

		return false
	}
	client, server, _ := lossyBottleneckPair(t, Config{MinCwnd: 64 << 10}, Config{MaxReceiveBufferSize: 4 << 20},
		10e6, 10*time.Millisecond, drop)
	start := time.Now()
	// 16 MiB at 10 MB/s: still sending when a T3-rtx timer started by the loss would expire
	// (the 1 s minimum RTO), so the tail loss probe, which only probes once nothing waits to be
	// sent, cannot stand in for the timer.
	sendThroughBottleneck(t, client, server, 16<<20)
	mu.Lock()
	n := dropped
	mu.Unlock()
	if n != 2 {
		t.Fatalf("dropped %d transmissions of the chosen chunk, want the original and one retransmission", n)
	}
	client.lock.RLock()
	t3 := client.stats.getNumT3Timeouts()
	client.lock.RUnlock()
	if t3 != 0 {
		t.Fatalf("%d T3-rtx timeouts (transfer took %v): the lost retransmission waited for the timer", t3, time.Since(start))
	}
}
