//go:build !linux

package mutter

import (
	"os"

	"github.com/godbus/dbus/v5"
)

// pipeFile wraps a descriptor Mutter handed over (Mutter runs on Linux only).
func pipeFile(fd dbus.UnixFD, name string) *os.File { return os.NewFile(uintptr(fd), name) }
