// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import "sync"

// deskport: packetBuffers keeps the buffers of packets the write loop has written, for the next
// packets marshalled (marshalPacket), instead of a new buffer for every packet sent, DATA or
// SACK. The write loop returns a batch once netConn.Write has returned for each of its packets:
// the connection under SCTP (DTLS, which seals into a buffer of its own, or a UDP socket) keeps
// nothing of what it was given.
type packetBuffers struct {
	mu   sync.Mutex
	free [][]byte
}

// maxFreePacketBuffers bounds what an idle association keeps: 32 buffers of a packet (48 KiB
// for packets of a 1500-byte path, 256 KiB for loopback's 8 KiB ones).
const maxFreePacketBuffers = 32

// minPacketBuffer is the smallest capacity get allocates, so that a SACK's buffer serves the
// next DATA packet of a 1500-byte path too.
const minPacketBuffer = 1536

// get returns a buffer with a capacity of at least size, from the free list if one is there.
func (b *packetBuffers) get(size int) []byte {
	b.mu.Lock()
	for n := len(b.free); n > 0; n = len(b.free) {
		buf := b.free[n-1]
		b.free[n-1] = nil
		b.free = b.free[:n-1]
		if cap(buf) >= size {
			b.mu.Unlock()

			return buf[:0]
		}
	}
	b.mu.Unlock()

	return make([]byte, 0, max(size, minPacketBuffer))
}

// put takes back buffers that nothing refers to any more.
func (b *packetBuffers) put(bufs [][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, buf := range bufs {
		if len(b.free) == maxFreePacketBuffers {
			return
		}
		if cap(buf) > 0 {
			b.free = append(b.free, buf)
		}
	}
}
