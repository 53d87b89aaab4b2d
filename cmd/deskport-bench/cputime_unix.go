//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime is this process's CPU time (user + system), every thread included, so encoder
// worker threads count too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
