// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import (
	"bytes"
	"testing"
)

// marshalByChunks is packet.marshal as upstream wrote it: each chunk's own marshal, padded.
func marshalByChunks(t *testing.T, p *packet) []byte {
	t.Helper()
	raw := make([]byte, packetHeaderSize)
	copy(raw, []byte{byte(p.sourcePort >> 8), byte(p.sourcePort), byte(p.destinationPort >> 8), byte(p.destinationPort),
		byte(p.verificationTag >> 24), byte(p.verificationTag >> 16), byte(p.verificationTag >> 8), byte(p.verificationTag)})
	for _, c := range p.chunks {
		chunkRaw, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, chunkRaw...)
		raw = append(raw, make([]byte, getPadding(len(raw)))...)
	}

	return raw
}

// A packet of DATA and I-DATA chunks, alone or bundled with a SACK, marshals to the bytes
// marshalling chunk by chunk gives, and unmarshals back to the same chunks.
func TestPacketMarshalDataInOneBuffer(t *testing.T) {
	data := func(size int, iData, begin, end, unordered bool) *chunkPayloadData {
		user := make([]byte, size)
		for i := range user {
			user[i] = byte(i*3 + size)
		}

		return &chunkPayloadData{
			tsn: 0x01020304 + uint32(size), streamIdentifier: 7, streamSequenceNumber: 9,
			messageIdentifier: 11, fragmentSequenceNumber: 13, payloadType: PayloadTypeWebRTCBinary,
			beginningFragment: begin, endingFragment: end, unordered: unordered, immediateSack: size%2 == 0,
			iData: iData, userData: user,
		}
	}
	sack := &chunkSelectiveAck{
		cumulativeTSNAck: 99, advertisedReceiverWindowCredit: 1 << 20,
		gapAckBlocks: []gapAckBlock{{start: 2, end: 3}, {start: 5, end: 9}},
	}
	for _, iData := range []bool{false, true} {
		for _, sizes := range [][]int{{0}, {1}, {2}, {3}, {4}, {1152}, {1153}, {100, 201, 302}} {
			for _, withSack := range []bool{false, true} {
				p := &packet{sourcePort: 5000, destinationPort: 5001, verificationTag: 0xdeadbeef}
				if withSack {
					p.chunks = append(p.chunks, sack)
				}
				for i, size := range sizes {
					p.chunks = append(p.chunks, data(size, iData, i == 0, i == len(sizes)-1, size%3 == 0))
				}
				want := marshalByChunks(t, p)
				got, err := p.marshal(false)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("i-data %v, sizes %v, sack %v: marshal differs from marshalling chunk by chunk", iData, sizes, withSack)
				}
				back := &packet{}
				if err := back.unmarshal(false, got); err != nil {
					t.Fatal(err)
				}
				if len(back.chunks) != len(p.chunks) {
					t.Fatalf("unmarshalled %d chunks, want %d", len(back.chunks), len(p.chunks))
				}
				for i, c := range back.chunks {
					d, ok := c.(*chunkPayloadData)
					if !ok {
						continue
					}
					w, _ := p.chunks[i].(*chunkPayloadData)
					if d.tsn != w.tsn || !bytes.Equal(d.userData, w.userData) || d.beginningFragment != w.beginningFragment ||
						d.endingFragment != w.endingFragment || d.unordered != w.unordered {
						t.Fatalf("chunk %d: unmarshalled %+v, want %+v", i, d, w)
					}
				}
			}
		}
	}
}

// BenchmarkPacketMarshalData is the marshal of a packet of one 1152-byte DATA chunk.
func BenchmarkPacketMarshalData(b *testing.B) {
	p := &packet{sourcePort: 5000, destinationPort: 5000, verificationTag: 1, chunks: []chunk{&chunkPayloadData{
		tsn: 1, beginningFragment: true, endingFragment: true, payloadType: PayloadTypeWebRTCBinary,
		userData: make([]byte, 1152),
	}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.marshal(false); err != nil {
			b.Fatal(err)
		}
	}
}
