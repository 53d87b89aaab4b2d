//go:build !unix

package main

import "time"

// cpuTime is unknown here (no getrusage); the bench measures on Linux, and this file only
// lets the command cross-compile with the rest of ./cmd/....
func cpuTime() time.Duration { return 0 }
