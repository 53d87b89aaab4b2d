package sctp

import (
	"bytes"
	"testing"
)

// deskport: a packet marshalled into a reused buffer full of old bytes is the same as one
// marshalled into a new buffer, with and without the checksum.
func TestMarshalIntoReusedBuffer(t *testing.T) {
	sack := &chunkSelectiveAck{cumulativeTSNAck: 99, advertisedReceiverWindowCredit: 1 << 20,
		gapAckBlocks: []gapAckBlock{{start: 2, end: 3}}}
	data := &chunkPayloadData{tsn: 7, streamIdentifier: 1, beginningFragment: true, endingFragment: true,
		payloadType: PayloadTypeWebRTCBinary, userData: bytes.Repeat([]byte{0x5a}, 1001)}
	for _, chunks := range [][]chunk{{sack}, {data}, {sack, data}} {
		for _, doChecksum := range []bool{false, true} {
			p := &packet{sourcePort: 5000, destinationPort: 5001, verificationTag: 0xdeadbeef, chunks: chunks}
			want, err := p.marshal(doChecksum)
			if err != nil {
				t.Fatal(err)
			}
			dirty := bytes.Repeat([]byte{0xff}, 2048)
			got, err := p.marshalTo(dirty[:7], doChecksum)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d chunks, checksum %v: marshalled into a reused buffer differs", len(chunks), doChecksum)
			}
			if &got[0] != &dirty[0] {
				t.Fatal("marshalTo did not use the buffer it was given")
			}
		}
	}
}

// packetBuffers hands back what it was given, big enough for the size asked, new buffers of at
// least minPacketBuffer, and keeps at most maxFreePacketBuffers.
func TestPacketBuffers(t *testing.T) {
	var b packetBuffers
	first := b.get(100)
	if len(first) != 0 || cap(first) < minPacketBuffer {
		t.Fatalf("new buffer: len %d cap %d", len(first), cap(first))
	}
	b.put([][]byte{first[:50]})
	if again := b.get(1200); &again[:1][0] != &first[:1][0] || len(again) != 0 {
		t.Fatal("get did not hand back the buffer put")
	}
	b.put([][]byte{first})
	if big := b.get(9000); cap(big) < 9000 || &big[:1][0] == &first[:1][0] {
		t.Fatalf("get(9000): cap %d, or the small buffer handed back", cap(big))
	}
	var many [][]byte
	for i := 0; i < 2*maxFreePacketBuffers; i++ {
		many = append(many, make([]byte, 0, minPacketBuffer))
	}
	b.put(many)
	if len(b.free) != maxFreePacketBuffers {
		t.Fatalf("kept %d buffers, want %d", len(b.free), maxFreePacketBuffers)
	}
}

// BenchmarkPacketMarshalReused is BenchmarkPacketMarshalData through the association's reused
// buffers, as the write loop marshals and returns them.
func BenchmarkPacketMarshalReused(b *testing.B) {
	p := &packet{sourcePort: 5000, destinationPort: 5000, verificationTag: 1, chunks: []chunk{&chunkPayloadData{
		tsn: 1, beginningFragment: true, endingFragment: true, payloadType: PayloadTypeWebRTCBinary,
		userData: make([]byte, 1152),
	}}}
	var bufs packetBuffers
	batch := make([][]byte, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		raw, err := p.marshalTo(bufs.get(p.marshalSizeHint()), false)
		if err != nil {
			b.Fatal(err)
		}
		batch[0] = raw
		bufs.put(batch)
	}
}
