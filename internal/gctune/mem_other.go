//go:build !linux

package gctune

// totalMemory is unknown here; MemoryLimit then uses MinMemoryLimit.
func totalMemory() uint64 { return 0 }
