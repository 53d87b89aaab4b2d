package sctp

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestRetransmissionScanOnlyWhenMarked: 8 MiB through a 10 MB/s, 20 ms bottleneck that loses 1 %
// of the client's packets. Every loss must be repaired (the transfer completes: each way of
// marking a chunk — RACK, its timer, the probe timeout, T3-rtx — still reaches the scan), and the
// write loop must not walk the inflight queue on the passes where nothing is marked. Without the
// rtxMarked gate every pass looked at every chunk in flight: 114 725 chunks for 7 748 packets
// sent, against 3 417 with it.
func TestRetransmissionScanOnlyWhenMarked(t *testing.T) {
	const size = 8 << 20
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 8))
	drop := func([]byte) bool {
		mu.Lock()
		defer mu.Unlock()

		return rng.Float64() < 0.01
	}
	client, server, _ := lossyBottleneckPair(t, Config{MinCwnd: 64 << 10},
		Config{MaxReceiveBufferSize: 4 << 20}, 10e6, 20*time.Millisecond, drop)
	sendThroughBottleneck(t, client, server, size)
	client.lock.RLock()
	scanned := client.rtxScanned
	sent := client.stats.getNumPacketsSent()
	client.lock.RUnlock()
	t.Logf("%d chunks looked at by retransmission scans, %d packets sent", scanned, sent)
	if limit := 4 * sent; scanned > limit {
		t.Fatalf("retransmission scans looked at %d chunks to send %d packets: the queue is walked on passes with nothing marked", scanned, sent)
	}
}
