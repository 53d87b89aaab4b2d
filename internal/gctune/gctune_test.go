package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })
	Apply()
	if got := debug.SetGCPercent(Percent); got != Percent {
		t.Errorf("GOGC %d, want %d", got, Percent)
	}
	if got, want := debug.SetMemoryLimit(-1), MemoryLimit(totalMemory()); got != want {
		t.Errorf("memory limit %d, want %d", got, want)
	}
	if totalMemory() == 0 {
		t.Error("the machine's memory is unknown")
	}

	// The environment wins.
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(1 << 30)
	Apply()
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("GOGC=50 in the environment, Apply set %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("GOMEMLIMIT=1GiB in the environment, Apply set %d", got)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		ram  uint64
		want int64
	}{
		{0, MinMemoryLimit},
		{1 << 30, MinMemoryLimit},
		{24 << 30, 6 << 30},
	} {
		if got := MemoryLimit(tc.ram); got != tc.want {
			t.Errorf("MemoryLimit(%d) = %d, want %d", tc.ram, got, tc.want)
		}
	}
}
