package sctp

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestT3EndsTailLossRecovery: with a window outstanding and nothing acknowledged (a link that
// loses everything), the probe timeout starts pion's tail-loss recovery, which bounds every
// pass of the write loop to a couple of MTUs; the T3-rtx timeout that follows must end it, and
// a probe timeout during the recovery from that timeout must not start it again — the window
// governs the repair, not a burst limit that lets two packets out a round trip.
func TestT3EndsTailLossRecovery(t *testing.T) {
	var lose atomic.Bool
	client, _, _ := lossyBottleneckPair(t, Config{MinCwnd: 64 << 10, RTOMin: 100}, Config{},
		10e6, 20*time.Millisecond, func([]byte) bool { return lose.Load() })
	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	lose.Store(true)
	if _, err := s.Write(make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	// The chunks are in flight once the write loop has sent them.
	for i := 0; ; i++ {
		client.lock.RLock()
		n := client.inflightQueue.size()
		client.lock.RUnlock()
		if n > 0 {
			break
		}
		if i == 1000 {
			t.Fatal("nothing in flight after the write")
		}
		time.Sleep(time.Millisecond)
	}

	client.onPTOTimer()
	client.lock.RLock()
	active := client.tlrActive
	client.lock.RUnlock()
	if !active {
		t.Fatal("the probe timeout did not start tail-loss recovery")
	}
	client.onRetransmissionTimeout(timerT3RTX, 1)
	client.lock.RLock()
	active = client.tlrActive
	client.lock.RUnlock()
	if active {
		t.Fatal("tail-loss recovery still bounds the write loop after a T3-rtx timeout")
	}
	client.onPTOTimer()
	client.lock.RLock()
	active = client.tlrActive
	client.lock.RUnlock()
	if active {
		t.Fatal("a probe timeout during the T3-rtx recovery started tail-loss recovery again")
	}
}
