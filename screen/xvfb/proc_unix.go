//go:build unix

package xvfb

import (
	"os"
	"syscall"
)

func signal(p *os.Process, sig syscall.Signal, group bool) {
	if group {
		_ = syscall.Kill(-p.Pid, sig)
		return
	}
	_ = p.Signal(sig)
}
