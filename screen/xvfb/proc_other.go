//go:build !unix

package xvfb

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signal(p *os.Process, sig syscall.Signal, group bool) {
	if sig == syscall.SIGKILL {
		_ = p.Kill()
		return
	}
	_ = p.Signal(os.Interrupt)
}
