//go:build !linux

package session

import (
	"net"
	"net/netip"
)

// batchWriter exists on Linux only (udpbatchwrite_linux.go): elsewhere every write is a plain
// one.
type batchWriter struct{}

func newBatchWriter(*net.UDPConn, string) *batchWriter { return nil }

func (w *batchWriter) close() {}
func (w *batchWriter) drain() {}

func (w *batchWriter) write([]byte, netip.AddrPort) (int, error) {
	panic("session: batchWriter.write without a batch writer")
}

func batchWriteTotals() (datagrams, syscalls int64) { return 0, 0 }
