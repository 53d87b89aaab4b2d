package session

import (
	"log/slog"
	"net"
	"sync"
)

// UDP socket buffers. A bulk transfer over WebRTC lands in the receiving socket faster than a
// busy receiver reads it in bursts; what does not fit is lost, and SCTP halves its window for
// it. deskport asks for udpSocketBuffer both ways, but Linux caps the request at
// net.core.rmem_max / wmem_max, 208 KiB on a stock system (about 150 packets of 1404 bytes,
// 3 ms of a 500 Mbit/s LAN). Where the process may (CAP_NET_ADMIN: a host agent run as root
// or a service), SO_RCVBUFFORCE and SO_SNDBUFFORCE take the buffer past the cap, as quic-go
// does; where it may not, the log says once what the socket got and how to raise it.

// socketBuffers is what one socket got: the bytes the kernel reserved for each direction
// (Linux reports twice what was asked, for its bookkeeping; these are halved back).
type socketBuffers struct{ read, write int }

// sizeUDPBuffers asks for udpSocketBuffer both ways and, where the system caps it, past the
// cap; it reports the result once a process when the receive buffer stays short.
func sizeUDPBuffers(uc *net.UDPConn, log *slog.Logger) {
	_ = uc.SetReadBuffer(udpSocketBuffer)
	_ = uc.SetWriteBuffer(udpSocketBuffer)
	got, ok := forceUDPBuffers(uc, udpSocketBuffer)
	if !ok || got.read >= udpSocketBuffer {
		return
	}
	shortBufferOnce.Do(func() {
		log.Info("the UDP receive buffer is smaller than deskport asks for: bulk transfers over WebRTC may lose packets when this machine is busy; raise the system's limit (sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608) or run with CAP_NET_ADMIN",
			"got_bytes", got.read, "wanted_bytes", udpSocketBuffer)
	})
}

var shortBufferOnce sync.Once
