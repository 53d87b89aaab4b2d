package sctp

import "testing"

// deskport: resized keeps every TSN the queue holds and then takes TSNs up to the new offset.
func TestReceivePayloadQueueResized(t *testing.T) {
	q := newReceivePayloadQueue(128)
	q.init(1000)
	held := []uint32{1002, 1005, 1063, 1064, 1127}
	for _, tsn := range held {
		if !q.push(tsn) {
			t.Fatalf("push %d", tsn)
		}
	}
	if q.push(1000 + 129) {
		t.Fatal("the small queue took a TSN past its offset")
	}
	n := q.resized(4096)
	if n.chunkSize != len(held) || n.cumulativeTSN != 1000 || n.tailTSN != 1127 {
		t.Fatalf("resized: size %d cum %d tail %d", n.chunkSize, n.cumulativeTSN, n.tailTSN)
	}
	for tsn := uint32(1001); tsn <= 1127; tsn++ {
		want := false
		for _, h := range held {
			want = want || h == tsn
		}
		if n.hasChunk(tsn) != want {
			t.Fatalf("TSN %d: has %v, want %v", tsn, n.hasChunk(tsn), want)
		}
	}
	if !n.push(1000 + 4000) {
		t.Fatal("the resized queue refused a TSN within its new offset")
	}
	if !n.push(1001) || !n.pop(false) || !n.pop(false) || n.cumulativeTSN != 1002 {
		t.Fatalf("pop after resize: cum %d", n.cumulativeTSN)
	}
}
