package session

import (
	"net"

	"golang.org/x/sys/unix"
)

// forceUDPBuffers raises a socket's buffers to want bytes past net.core.rmem_max and wmem_max
// where the process may (SO_RCVBUFFORCE and SO_SNDBUFFORCE need CAP_NET_ADMIN; without it they
// fail and the capped size stays), and returns what the socket has then.
func forceUDPBuffers(uc *net.UDPConn, want int) (socketBuffers, bool) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return socketBuffers{}, false
	}
	var got socketBuffers
	ok := false
	err = rc.Control(func(fd uintptr) {
		size := func(opt int) int {
			n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt)
			if err != nil {
				return -1
			}
			return n / 2 // the kernel doubles the request for its own overhead
		}
		if size(unix.SO_RCVBUF) < want {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want)
		}
		if size(unix.SO_SNDBUF) < want {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want)
		}
		got = socketBuffers{read: size(unix.SO_RCVBUF), write: size(unix.SO_SNDBUF)}
		ok = got.read >= 0 && got.write >= 0
	})
	return got, ok && err == nil
}
