//go:build !linux

package session

import "net"

// forceUDPBuffers has nothing past SetReadBuffer and SetWriteBuffer to try here.
func forceUDPBuffers(uc *net.UDPConn, want int) (socketBuffers, bool) { return socketBuffers{}, false }
