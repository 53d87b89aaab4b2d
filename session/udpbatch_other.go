//go:build !linux

package session

import (
	"net"
	"net/netip"
)

// batchReader exists on Linux only (udpbatch_linux.go): elsewhere every read is a plain one.
type batchReader struct{}

func newBatchReader(*net.UDPConn, string) *batchReader { return nil }

func (r *batchReader) close() {}

func (r *batchReader) read([]byte) (int, netip.AddrPort, error) {
	panic("session: batchReader.read without a batch reader")
}
