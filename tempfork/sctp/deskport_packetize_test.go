package sctp

import (
	"bytes"
	"testing"

	"github.com/pion/logging"
)

// deskport: packetize copies a message once and slices the copy into chunks: every chunk has
// its own bytes of the message, in order, capped at its end (an append to one never writes into
// the next), and the caller's buffer may change afterwards.
func TestPacketizeSlicesOneCopy(t *testing.T) {
	client, _ := udpPair(t, Config{}, Config{})
	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	client.lock.RLock()
	maxPayload := int(client.maxPayloadSize)
	client.lock.RUnlock()
	for _, size := range []int{1, maxPayload - 1, maxPayload, maxPayload + 1, 3*maxPayload + 7, 64 << 10} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		want := bytes.Clone(msg)
		chunks, _ := s.packetize(msg, PayloadTypeWebRTCBinary)
		if wantChunks := (size + maxPayload - 1) / maxPayload; len(chunks) != wantChunks {
			t.Fatalf("%d bytes: %d chunks, want %d", size, len(chunks), wantChunks)
		}
		for i := range msg {
			msg[i] = 0xff // the caller reuses its buffer
		}
		var got []byte
		for i, c := range chunks {
			if c.fragmentSequenceNumber != uint32(i) || c.beginningFragment != (i == 0) || c.endingFragment != (i == len(chunks)-1) {
				t.Fatalf("%d bytes: chunk %d: fsn %d, begin %v, end %v", size, i, c.fragmentSequenceNumber, c.beginningFragment, c.endingFragment)
			}
			if cap(c.userData) != len(c.userData) {
				t.Fatalf("%d bytes: chunk %d: userData cap %d, len %d", size, i, cap(c.userData), len(c.userData))
			}
			got = append(got, c.userData...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: the chunks do not hold the message", size)
		}
	}
}

// BenchmarkPacketize64KiB is the packetizing of one 64 KiB message (deskport's tunnel message)
// into chunks of a 1191-byte path.
func BenchmarkPacketize64KiB(b *testing.B) {
	a := &Association{maxPayloadSize: maxPayloadSizeForMTU(1191, false)}
	s := &Stream{association: a, streamIdentifier: 1, log: logging.NewDefaultLoggerFactory().NewLogger("sctp")}
	msg := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.packetize(msg, PayloadTypeWebRTCBinary)
	}
}
