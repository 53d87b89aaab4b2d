//go:build !unix

package session

import "time"

// processCPU is not measured here; the benchmark then reports no CPU figure.
func processCPU() time.Duration { return 0 }
