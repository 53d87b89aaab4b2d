package host

import (
	"os"

	"golang.org/x/sys/unix"
)

// flushTerminalInput discards input typed on terminal f and not read yet (tcflush TCIFLUSH).
func flushTerminalInput(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCFLSH, unix.TCIFLUSH)
}
