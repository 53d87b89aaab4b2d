package sctp

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestUrgentChunkGoesBeyondAFullWindow: a bulk stream keeps the window full, and the link then
// holds every packet for two seconds, so no SACK comes back and the bytes outstanding stay at
// cwnd. A message written meanwhile on a stream of urgent priority must go out at once, beyond
// the window, not when the stall ends; the same message on a stream below the urgent priority
// waits (RFC 4960 6.1 rule B).
func TestUrgentChunkGoesBeyondAFullWindow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		priority uint16
		beyond   bool
	}{{"urgent", 512, true}, {"normal", 256, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				stallEnd time.Time
				seen     = make(chan time.Time, 1)
			)
			drop := func(raw []byte) bool {
				p := &packet{}
				if err := p.unmarshal(false, raw); err != nil {
					return false
				}
				for _, c := range p.chunks {
					if d, ok := c.(*chunkPayloadData); ok && d.streamIdentifier == 2 {
						select {
						case seen <- time.Now():
						default:
						}
					}
				}

				return false
			}
			client, server, link := lossyBottleneckPair(t, Config{MinCwnd: 64 << 10, UrgentPriority: 512},
				Config{MaxReceiveBufferSize: 4 << 20}, 10e6, 20*time.Millisecond, drop)
			go func() { // the peer reads the bulk stream
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
			bulk, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
			if err != nil {
				t.Fatal(err)
			}
			// Messages of one chunk each: with DATA chunks a message whose first fragment left is
			// finished first, whatever waits behind it (I-DATA has no such rule).
			msg := make([]byte, 1<<10)
			for i := 0; i < 8192; i++ { // 8 MiB queued: more than the test lasts
				if _, err := bulk.Write(msg); err != nil {
					t.Fatal(err)
				}
			}
			// Once twenty SACKs came back, stall the link; then wait (a bounded poll of the
			// association's state) until what is outstanding fills the window and the packets
			// that were on their way have arrived.
			deadline := time.Now().Add(20 * time.Second)
			for {
				client.lock.RLock()
				acked := client.stats.getNumSACKsReceived() > 20
				full := uint32(client.inflightQueue.getNumBytes()) >= client.CWND() //nolint:gosec
				client.lock.RUnlock()
				if acked && stallEnd.IsZero() {
					link.mu.Lock()
					if now := time.Now(); link.nextFree.Before(now) {
						link.nextFree = now
					}
					link.nextFree = link.nextFree.Add(3 * time.Second)
					mu.Lock()
					stallEnd = link.nextFree
					mu.Unlock()
					link.mu.Unlock()
				}
				// Packets already past the queue still arrive for one delay (20 ms), and the
				// receiver's delayed SACK for them comes up to 200 ms later, freeing room: the
				// window counts as full only half a second into the stall, when nothing more
				// can come back until it ends (on a loaded machine the SACK may be late too).
				if !stallEnd.IsZero() && full && time.Until(stallEnd) < 2500*time.Millisecond {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the window never filled")
				}
				time.Sleep(5 * time.Millisecond)
			}
			press, err := client.OpenStream(2, PayloadTypeWebRTCBinary)
			if err != nil {
				t.Fatal(err)
			}
			press.SetPriority(tc.priority)
			if _, err := press.Write([]byte("key press")); err != nil {
				t.Fatal(err)
			}
			var at time.Time
			select {
			case at = <-seen:
			case <-time.After(20 * time.Second):
				t.Fatal("the message was never sent")
			}
			mu.Lock()
			end := stallEnd
			mu.Unlock()
			if early := at.Before(end); early != tc.beyond {
				client.lock.RLock()
				cwnd, rwnd := client.CWND(), client.RWND()
				client.lock.RUnlock()
				t.Fatalf("priority %d, urgent from 512: sent before the stall ended = %v, want %v (cwnd %d, rwnd %d)",
					tc.priority, early, tc.beyond, cwnd, rwnd)
			}
		})
	}
}

// TestPeekWithoutPopSeesAHigherPriority: the write loop peeks at the next chunk and leaves it
// queued when the window is full. A chunk of a higher priority queued after that must be what
// the next peek returns (the weighted-fair-queueing scheduler kept the stream the first peek
// chose until a pop).
func TestPeekWithoutPopSeesAHigherPriority(t *testing.T) {
	q := newPendingQueue(func() InterleavingStreamScheduler { return newWeightedFairQueueingPendingQueuePolicy(nil) })
	if err := q.setInterleaving(true); err != nil {
		t.Fatal(err)
	}
	pushAll(q, message(1, 0, 1, 0, false))
	if c := q.peek(); c == nil || c.streamIdentifier != 1 {
		t.Fatalf("peek %v, want the bulk stream's chunk", c)
	}
	pushAll(q, message(2, 0, 1, 512, false))
	want := []string{"2/0/0", "1/0/0"}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// TestUrgentEchoRecoversALostChunk: the first packet carrying a small message of an urgent
// stream is lost on a path with a 100 ms one-way delay and nothing else in flight. Its echo,
// sent 5 ms later, arrives instead: the message is read about one delay after it was written.
// A message of a stream below the urgent priority is not echoed and waits for SCTP's own
// recovery (the T3-rtx timer, a second at least).
func TestUrgentEchoRecoversALostChunk(t *testing.T) {
	const delay = 100 * time.Millisecond
	for _, tc := range []struct {
		name     string
		priority uint16
		echoed   bool
	}{{"urgent", 512, true}, {"normal", 256, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			dropped := 0
			drop := func(raw []byte) bool {
				p := &packet{}
				if err := p.unmarshal(false, raw); err != nil {
					return false
				}
				for _, c := range p.chunks {
					if d, ok := c.(*chunkPayloadData); ok && d.streamIdentifier == 2 {
						mu.Lock()
						defer mu.Unlock()
						dropped++

						return dropped == 1 // the first transmission only
					}
				}

				return false
			}
			client, server, _ := lossyBottleneckPair(t, Config{UrgentPriority: 512}, Config{}, 10e6, delay, drop)
			press, err := client.OpenStream(2, PayloadTypeWebRTCBinary)
			if err != nil {
				t.Fatal(err)
			}
			press.SetPriority(tc.priority)
			read := make(chan time.Duration, 1)
			start := time.Now()
			go func() {
				rs, err := server.AcceptStream()
				if err != nil {
					return
				}
				buf := make([]byte, 64)
				if _, err := rs.Read(buf); err == nil {
					read <- time.Since(start)
				}
			}()
			if _, err := press.Write([]byte("key press")); err != nil {
				t.Fatal(err)
			}
			var took time.Duration
			select {
			case took = <-read:
			case <-time.After(20 * time.Second):
				t.Fatal("the message never arrived")
			}
			client.lock.RLock()
			echoes := client.urgentEchoes
			client.lock.RUnlock()
			// Echoed: one delay plus the 5 ms of the first copy, with room for a loaded
			// machine; not echoed: no sooner than the minimum RTO of one second.
			if fast := took < delay+400*time.Millisecond; fast != tc.echoed || (echoes > 0) != tc.echoed {
				t.Fatalf("priority %d, urgent from 512: read %v after the write, %d echoes sent; want echoed = %v",
					tc.priority, took, echoes, tc.echoed)
			}
		})
	}
}
