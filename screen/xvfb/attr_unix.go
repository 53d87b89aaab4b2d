//go:build unix && !linux

package xvfb

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	// Own process group, so Stop reaches a shell's children and a terminal's Ctrl-C reaches
	// only the host agent, which then stops everything in order.
	return &syscall.SysProcAttr{Setpgid: true}
}
