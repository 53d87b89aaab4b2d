//go:build unix

package files

import "syscall"

// openNonblock keeps an open of a FIFO or a device from blocking; it changes nothing for the
// regular files that are then accepted.
const openNonblock = syscall.O_NONBLOCK
