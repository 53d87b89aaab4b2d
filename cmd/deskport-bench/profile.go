package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startCPUProfile writes a CPU profile of the bench process to path until the returned func is
// called. The sections that run in this process (longpath, keys) show where a forward's CPU
// goes; the ones that run binaries show only the bench's own share.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// startTrace writes an execution trace of the bench process to path until the returned func is
// called: which goroutine of a forward's path waits for which (go tool trace -pprof=sched, sync,
// net), where a profile shows only the CPU spent.
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-trace: %w", err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-trace: %w", err)
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}
