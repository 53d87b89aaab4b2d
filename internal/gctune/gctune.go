// Package gctune sets the garbage collector of the host and viewer binaries for bulk transfer.
//
// A forwarded byte crosses pion's SCTP and DTLS layers, which allocate per packet; with Go's
// default GOGC=100 the collector then costs about a fifth of a forward's CPU. Collecting at four
// times the live heap instead took CPU per GiB forwarded from 14.2 to 11.3 s (docs/session.md).
// A soft memory limit keeps that from growing the heap without bound: near it the collector
// runs as often as it must (up to about half the CPU when the live heap itself passes the limit,
// never an out-of-memory stop). The limit is a quarter of the machine's memory, at least
// MinMemoryLimit: a host with many slow-reading streams may hold 16 MiB of window per stream.
// Either environment variable, when set, wins.
package gctune

import (
	"os"
	"runtime/debug"
)

const (
	// Percent is the GOGC the binaries use.
	Percent = 400
	// MinMemoryLimit is the smallest soft limit (GOMEMLIMIT) the binaries use.
	MinMemoryLimit = 512 << 20
)

// MemoryLimit is the soft limit Apply sets: a quarter of totalRAM, at least MinMemoryLimit.
// totalRAM 0 (unknown) gives MinMemoryLimit.
func MemoryLimit(totalRAM uint64) int64 {
	return max(MinMemoryLimit, int64(min(totalRAM/4, 1<<62)))
}

// Apply sets Percent and MemoryLimit unless GOGC or GOMEMLIMIT say otherwise.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit(totalMemory()))
	}
}
