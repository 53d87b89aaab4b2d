// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import "encoding/binary"

// deskport: a DATA or I-DATA packet marshalled into one buffer. packet.marshal used to build
// each chunk in two buffers of its own (the chunk value, then the chunk with its header), append
// it to a packet buffer that started at 12 bytes (so it grew once more) and allocate the padding:
// four allocations and three copies of the user data for a packet of one DATA chunk, on every
// packet a bulk transfer sends.

// zeroPadding is the up to three bytes that pad a chunk to a multiple of four.
var zeroPadding [paddingMultiple]byte //nolint:gochecknoglobals

// marshalSizeHint is the size of the packet's marshalled form when it holds only DATA and
// I-DATA chunks, and a guess when it holds others.
func (p *packet) marshalSizeHint() int {
	size := packetHeaderSize
	for _, c := range p.chunks {
		if d, ok := c.(*chunkPayloadData); ok {
			size += chunkHeaderSize + d.valueHeaderSize() + len(d.userData) + paddingMultiple - 1
		} else {
			size += chunkHeaderSize + 64
		}
	}

	return size
}

// valueHeaderSize is the size of the chunk value's fields before the user data.
func (p *chunkPayloadData) valueHeaderSize() int {
	if p.isIData() {
		return iDataHeaderSize
	}

	return payloadDataHeaderSize
}

// flagBits is the chunk's flags byte (RFC 9260 3.3.1, RFC 8260 2.1).
func (p *chunkPayloadData) flagBits() uint8 {
	flags := uint8(0)
	if p.endingFragment {
		flags = 1
	}
	if p.beginningFragment {
		flags |= 1 << 1
	}
	if p.unordered {
		flags |= 1 << 2
	}
	if p.immediateSack {
		flags |= 1 << 3
	}

	return flags
}

// appendTo appends the chunk to raw, the same bytes as marshal returns, and sets the chunk
// header's type and flags as marshal does (not its raw value: nothing reads it back, and
// keeping a copy of every chunk in flight doubled the memory of the send window).
func (p *chunkPayloadData) appendTo(raw []byte) []byte {
	typ, valueHeader := ctPayloadData, payloadDataHeaderSize
	if p.isIData() {
		typ, valueHeader = ctIData, iDataHeaderSize
	}
	flags := p.flagBits()
	p.chunkHeader.typ = typ
	p.chunkHeader.flags = flags

	length := chunkHeaderSize + valueHeader + len(p.userData)
	start := len(raw)
	raw = append(raw, make([]byte, chunkHeaderSize+valueHeader)...)
	out := raw[start:]
	out[0] = uint8(typ)
	out[1] = flags
	binary.BigEndian.PutUint16(out[2:], uint16(length)) //nolint:gosec // G115, DATA is below 64 KiB
	value := out[chunkHeaderSize:]
	binary.BigEndian.PutUint32(value[0:], p.tsn)
	binary.BigEndian.PutUint16(value[4:], p.streamIdentifier)
	if typ == ctIData {
		binary.BigEndian.PutUint16(value[6:], 0)
		binary.BigEndian.PutUint32(value[8:], p.messageIdentifier)
		if p.beginningFragment {
			binary.BigEndian.PutUint32(value[12:], uint32(p.payloadType))
		} else {
			binary.BigEndian.PutUint32(value[12:], p.fragmentSequenceNumber)
		}
	} else {
		binary.BigEndian.PutUint16(value[6:], p.streamSequenceNumber)
		binary.BigEndian.PutUint32(value[8:], uint32(p.payloadType))
	}

	return append(raw, p.userData...)
}
