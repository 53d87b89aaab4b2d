package mutter

import (
	"os"
	"syscall"

	"github.com/godbus/dbus/v5"
)

// pipeFile wraps a pipe's descriptor that Mutter handed over, non-blocking so that its reads
// and writes honour deadlines.
func pipeFile(fd dbus.UnixFD, name string) *os.File {
	_ = syscall.SetNonblock(int(fd), true)
	return os.NewFile(uintptr(fd), name)
}
