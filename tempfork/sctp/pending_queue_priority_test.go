// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"testing"
	"time"
)

// message returns the chunks of one user message of n fragments on stream sid.
func message(sid uint16, ssn uint16, n int, priority uint16, unordered bool) []*chunkPayloadData {
	chunks := make([]*chunkPayloadData, n)
	for i := range chunks {
		chunks[i] = &chunkPayloadData{
			streamIdentifier:       sid,
			streamSequenceNumber:   ssn,
			fragmentSequenceNumber: uint32(i), //nolint:gosec
			beginningFragment:      i == 0,
			endingFragment:         i == n-1,
			unordered:              unordered,
			priority:               priority,
			userData:               []byte{byte(sid), byte(ssn), byte(i)},
		}
	}

	return chunks
}

// drain pops every chunk in peek order and names each "sid/ssn/fragment".
func drain(t *testing.T, q *pendingQueue) []string {
	t.Helper()
	var got []string
	for q.size() > 0 {
		c := q.peek()
		if c == nil {
			t.Fatalf("peek: nil with %d chunks queued", q.size())
		}
		if err := q.pop(c); err != nil {
			t.Fatalf("pop %d/%d/%d: %v", c.streamIdentifier, c.streamSequenceNumber, c.fragmentSequenceNumber, err)
		}
		got = append(got, fmt.Sprintf("%d/%d/%d", c.streamIdentifier, c.streamSequenceNumber, c.fragmentSequenceNumber))
	}

	return got
}

func pushAll(q *pendingQueue, msgs ...[]*chunkPayloadData) {
	for _, m := range msgs {
		for _, c := range m {
			q.push(c)
		}
	}
}

func TestPendingQueuePriorityOrder(t *testing.T) {
	q := newPendingQueue(nil)
	pushAll(q,
		message(1, 0, 3, 0, false), // bulk, fragmented
		message(1, 1, 1, 0, false),
		message(2, 0, 1, 5, false), // interactive
		message(3, 0, 1, 5, true),  // interactive, unordered: first within its priority
		message(2, 1, 2, 5, false),
		message(4, 0, 1, 9, false), // the highest, queued last
	)
	want := []string{"4/0/0", "3/0/0", "2/0/0", "2/1/0", "2/1/1", "1/0/0", "1/0/1", "1/0/2", "1/1/0"}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if q.getNumBytes() != 0 {
		t.Fatalf("%d bytes left in an empty queue", q.getNumBytes())
	}
}

// A message whose first fragment has left finishes before anything else: DATA fragments of one
// message must have consecutive TSNs.
func TestPendingQueuePriorityFinishesMessage(t *testing.T) {
	q := newPendingQueue(nil)
	pushAll(q, message(1, 0, 3, 0, false), message(1, 1, 1, 0, false))
	c := q.peek()
	if err := q.pop(c); err != nil {
		t.Fatal(err)
	}
	pushAll(q, message(2, 0, 1, 7, false))
	want := []string{"1/0/1", "1/0/2", "2/0/0", "1/1/0"}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// With every stream at one priority the order is upstream's (messagePendingQueuePolicy).
func TestPendingQueuePriorityEqualIsUpstreamOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1)) //nolint:gosec
	for round := 0; round < 200; round++ {
		q, ref := newPendingQueue(nil), newMessagePendingQueuePolicy()
		ssn := map[uint16]uint16{}
		var want []string
		popRef := func() {
			c := ref.peek()
			if err := ref.pop(c); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%d/%d/%d", c.streamIdentifier, c.streamSequenceNumber, c.fragmentSequenceNumber))
		}
		var got []string
		for i := 0; i < 30; i++ {
			sid := uint16(rng.Intn(4)) //nolint:gosec
			m := message(sid, ssn[sid], 1+rng.Intn(3), 256, rng.Intn(4) == 0)
			ssn[sid]++
			for _, c := range m {
				q.push(c)
				ref.push(c)
			}
			for n := rng.Intn(4); n > 0 && q.size() > 0; n-- { // interleave pops with pushes
				c := q.peek()
				if err := q.pop(c); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d/%d/%d", c.streamIdentifier, c.streamSequenceNumber, c.fragmentSequenceNumber))
				popRef()
			}
		}
		for q.size() > 0 {
			got = append(got, drain(t, q)...)
		}
		for ref.peek() != nil {
			popRef()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: sent %v, upstream order %v", round, got, want)
		}
	}
}

// Popping anything but the chunk peek returned is refused, as upstream's queue does.
func TestPendingQueuePriorityPopWrongChunk(t *testing.T) {
	q := newPendingQueue(nil)
	low, high := message(1, 0, 1, 0, false), message(2, 0, 1, 3, false)
	pushAll(q, low, high)
	if err := q.pop(low[0]); err == nil {
		t.Fatal("popped a lower-priority chunk while a higher one waits")
	}
	if q.size() != 2 {
		t.Fatalf("size %d after a refused pop, want 2", q.size())
	}
}

// The reset marker Close queues goes behind every message of the stream, whatever priority each
// was written at.
func TestStreamPriorityResetMarker(t *testing.T) {
	client, _ := udpPair(t, Config{}, Config{})
	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	s.SetPriority(100)
	if _, err := s.Write([]byte("at 100")); err != nil {
		t.Fatal(err)
	}
	s.SetPriority(50)
	s.SetPriority(200)
	if s.Priority() != 200 {
		t.Fatalf("Priority() = %d, want 200", s.Priority())
	}
	s.lock.RLock()
	lowest := s.lowestPriority
	s.lock.RUnlock()
	if lowest != 50 {
		t.Fatalf("lowest priority %d, want 50 (set while a message may still wait at 100)", lowest)
	}
	q := newPendingQueue(nil)
	marker := &chunkPayloadData{streamIdentifier: 1, beginningFragment: true, endingFragment: true, priority: lowest}
	pushAll(q, message(1, 0, 1, 100, false), message(1, 1, 2, 200, false), []*chunkPayloadData{marker})
	want := []string{"1/1/0", "1/1/1", "1/0/0", "1/0/0"} // the marker (empty) last
	got := drain(t, q)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// TestStreamPriorityOvertakesBulk runs two real associations over loopback UDP: a bulk stream
// queues 16 MiB, then a second stream queues 8 MiB. At a higher priority the second stream's data
// must go first: when its last byte is read, little more than its own 8 MiB has arrived. At equal
// priority it waits behind the bulk data (DATA chunks: first in, first out) or shares the
// association with it (I-DATA: weighted fair queueing), so at least twice its size has arrived.
// The bytes of both streams must arrive whole and in order. What had arrived is the receiving
// association's byte count (packets, headers included).
func TestStreamPriorityOvertakesBulk(t *testing.T) {
	const bulkSize, urgentSize = 16 << 20, 8 << 20
	for _, interleaving := range []bool{false, true} {
		for _, tc := range []struct {
			name     string
			priority uint16
		}{{"priority", 512}, {"equal", 0}} {
			t.Run(fmt.Sprintf("interleaving=%v/%s", interleaving, tc.name), func(t *testing.T) {
				cfg := Config{enableInterleaving: interleaving, enableInterleavingSet: true}
				client, server := udpPair(t, cfg, cfg)
				bulk, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
				if err != nil {
					t.Fatal(err)
				}
				urgent, err := client.OpenStream(2, PayloadTypeWebRTCBinary)
				if err != nil {
					t.Fatal(err)
				}
				urgent.SetPriority(tc.priority)
				writePattern(t, bulk, bulkSize)
				writePattern(t, urgent, urgentSize)

				urgentDone := make(chan uint64, 1)
				errs := make(chan error, 2)
				for i := 0; i < 2; i++ {
					s, err := server.AcceptStream()
					if err != nil {
						t.Fatal(err)
					}
					if s.StreamIdentifier() == 1 {
						go func() { errs <- readPattern(s, bulkSize) }()
					} else {
						go func() {
							err := readPattern(s, urgentSize)
							urgentDone <- server.BytesReceived()
							errs <- err
						}()
					}
				}
				var arrived uint64
				select {
				case arrived = <-urgentDone:
				case <-time.After(60 * time.Second):
					t.Fatal("the second stream's data did not arrive within 60 s")
				}
				for i := 0; i < 2; i++ {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				t.Logf("%d MiB arrived when the last of the second stream's %d MiB was read", arrived>>20, urgentSize>>20)
				if tc.priority > 0 && arrived > urgentSize+6<<20 {
					t.Fatalf("%d bytes arrived with the higher-priority stream's %d, want at most %d", arrived, urgentSize, urgentSize+6<<20)
				}
				if tc.priority == 0 && arrived < 2*urgentSize {
					t.Fatalf("%d bytes arrived with the equal-priority stream's %d, want at least %d: the test cannot tell priority from none", arrived, urgentSize, 2*urgentSize)
				}
			})
		}
	}
}

// writePattern writes total bytes of a counting pattern in 64 KiB messages.
func writePattern(t *testing.T, s *Stream, total int) {
	t.Helper()
	msg := make([]byte, 64<<10)
	for off := 0; off < total; off += len(msg) {
		for i := 0; i < len(msg); i += 8 {
			binary.BigEndian.PutUint64(msg[i:], uint64(off+i)) //nolint:gosec
		}
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
}

// readPattern reads total bytes of writePattern's counting pattern.
func readPattern(s *Stream, total int) error {
	buf := make([]byte, 128<<10)
	var off int
	for off < total {
		n, err := s.Read(buf)
		if err != nil {
			return fmt.Errorf("bulk read at %d: %w", off, err)
		}
		if n%8 != 0 {
			return fmt.Errorf("bulk read of %d bytes at %d", n, off)
		}
		for i := 0; i < n; i += 8 {
			if v := binary.BigEndian.Uint64(buf[i:]); v != uint64(off+i) { //nolint:gosec
				return fmt.Errorf("bulk byte %d holds %d: out of order", off+i, v)
			}
		}
		off += n
	}
	if off != total {
		return io.ErrShortBuffer
	}

	return nil
}

// With I-DATA the weighted-fair-queueing scheduler serves the highest priority first, fragment by
// fragment, and keeps weighted fair queueing among equal priorities.
func TestPendingQueuePriorityInterleaving(t *testing.T) {
	q := newPendingQueue(func() InterleavingStreamScheduler { return newWeightedFairQueueingPendingQueuePolicy(nil) })
	if err := q.setInterleaving(true); err != nil {
		t.Fatal(err)
	}
	pushAll(q, message(1, 0, 3, 0, false), message(1, 1, 1, 0, false))
	c := q.peek()
	if err := q.pop(c); err != nil {
		t.Fatal(err)
	}
	pushAll(q, message(2, 0, 2, 5, false), message(3, 0, 1, 5, false))
	// Stream 3's one fragment finishes before stream 2's second (fair queueing by bytes within
	// priority 5); the bulk stream's message resumes after both.
	want := []string{"2/0/0", "3/0/0", "2/0/1", "1/0/1", "1/0/2", "1/1/0"}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// The write loop takes at most maxNewDataPerGather of new data at a time, however much the
// windows allow, so that a chunk queued meanwhile does not wait behind all of it.
func TestGatherBoundsNewData(t *testing.T) {
	client, _ := udpPair(t, Config{}, Config{MaxReceiveBufferSize: 16 << 20})
	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	var queued []*chunkPayloadData
	for i := 0; i < 16; i++ {
		chunks, _ := s.packetize(make([]byte, 64<<10), PayloadTypeWebRTCBinary)
		queued = append(queued, chunks...)
	}
	client.lock.Lock()
	client.setCWND(16 << 20)
	client.setRWND(16 << 20)
	for _, c := range queued {
		client.pendingQueue.push(c)
	}
	client.lock.Unlock()
	raw, ok := client.gatherOutbound()
	if !ok {
		t.Fatal("gatherOutbound: the association is closing")
	}
	var n int
	for _, p := range raw {
		n += len(p)
		if _, err := client.netConn.Write(p); err != nil { // keep the association whole
			t.Fatal(err)
		}
	}
	client.awakeWriteLoop() // the write loop sends the rest
	if n < maxNewDataPerGather || n > maxNewDataPerGather+int(client.MTU())+len(raw)*32 {
		t.Fatalf("one gather took %d bytes in %d packets of 1 MiB queued, want about %d", n, len(raw), maxNewDataPerGather)
	}
}
