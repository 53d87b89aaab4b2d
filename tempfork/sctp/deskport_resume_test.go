package sctp

import (
	"testing"
	"time"
)

// TestResumeWindow: a window resumed before anything was lost starts the association's
// congestion avoidance at that window (with the delivery-rate floor); a transfer afterwards is measured by PathWindow; and a
// window is not resumed once the association has taken a loss, nor lowered.
func TestResumeWindow(t *testing.T) {
	const initial, resumed = 256 << 10, 2 << 20
	client, server := udpPair(t,
		Config{MinCwnd: initial, CwndFloorFromDeliveryRate: true},
		Config{MaxReceiveBufferSize: 8 << 20})
	if w, rtt := client.PathWindow(); w != 0 {
		t.Fatalf("PathWindow %d (min RTT %v) before any data, want 0", w, rtt)
	}
	if !client.ResumeWindow(resumed) {
		t.Fatal("ResumeWindow refused on a fresh association")
	}
	client.lock.RLock()
	cwnd, ssthresh, fromPeer := client.CWND(), client.ssthresh, client.ssthreshFromPeerWindow
	client.lock.RUnlock()
	if cwnd != resumed || ssthresh != resumed || fromPeer {
		t.Fatalf("after ResumeWindow(%d): cwnd %d, ssthresh %d (from the peer's window: %v); want both %d, congestion avoidance from there", resumed, cwnd, ssthresh, fromPeer, resumed)
	}
	if client.ResumeWindow(resumed / 2) {
		t.Fatal("ResumeWindow lowered the window")
	}

	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs, err := server.AcceptStream()
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := rs.Read(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 16<<10)
	for i := 0; i < 256; i++ { // 4 MiB
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.BufferedAmount() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.BufferedAmount() > 0 {
		t.Fatal("4 MiB over loopback not acknowledged in 20 s")
	}
	w, rtt := client.PathWindow()
	if w == 0 || rtt <= 0 {
		t.Fatalf("PathWindow after 4 MiB: window %d, min RTT %v; want both measured", w, rtt)
	}
	if w > 4<<20 {
		t.Fatalf("PathWindow %d after a transfer of 4 MiB: more than was sent in any round trip", w)
	}

	client.lock.Lock()
	cwnd = client.CWND()
	client.ssthresh = client.lossThresholdLocked(time.Now()) // what a fast retransmit does
	client.ssthreshFromPeerWindow = false
	client.lock.Unlock()
	if client.ResumeWindow(2 * cwnd) {
		t.Fatal("ResumeWindow after a loss")
	}
	server.Close()
	<-done
}
