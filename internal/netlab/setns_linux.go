package netlab

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setNetNS moves the calling thread into the network namespace open at fd.
func setNetNS(fd int) error { return unix.Setns(fd, syscall.CLONE_NEWNET) }
