package session

import (
	"testing"
	"time"
)

func TestPacerRate(t *testing.T) {
	var p pacer
	p.setRate(1<<20, 100*time.Millisecond, 4<<20)
	if got, want := p.rate.Load(), uint64(pacingGain*(1<<20)*10); got != want {
		t.Errorf("rate for 1 MiB cwnd over 100 ms: %d, want %d", got, want)
	}
	p.setRate(1<<20, time.Millisecond, 4<<20) // a short path: bursts do no harm
	if got := p.rate.Load(); got != 0 {
		t.Errorf("a 1 ms path is paced at %d B/s", got)
	}
	p.setRate(0, 100*time.Millisecond, 4<<20)
	if got := p.rate.Load(); got != 0 {
		t.Errorf("no window yet, paced at %d B/s", got)
	}
	p.setRate(1<<20, 100*time.Millisecond, 64<<10) // no bulk transfer: video and input go at once
	if got := p.rate.Load(); got != 0 {
		t.Errorf("an idle association is paced at %d B/s", got)
	}
}

// TestPacerSpreads checks the bucket's arithmetic through real time: a burst allowance goes out
// at once, the rest no faster than the rate (sleeps never end early, so the lower bound holds on
// any machine; the upper bound only catches a pacer that never lets go).
func TestPacerSpreads(t *testing.T) {
	var p pacer
	const rate = 20 << 20 // bytes per second; its 2 ms burst is below pacingBurst
	p.rate.Store(rate)
	start := time.Now()
	sent := 0
	for sent < pacingBurst {
		p.wait(1200)
		sent += 1200
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("the first %d bytes (the burst allowance) took %v", sent, d)
	}
	const total = 2 << 20
	for sent < total {
		p.wait(1200)
		sent += 1200
	}
	min := time.Duration(total-pacingBurst-1200) * time.Second / rate
	if d := time.Since(start); d < min || d > 20*min {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", total, rate, d, min)
	}

	p.rate.Store(0)
	start = time.Now()
	for range 10000 {
		p.wait(1200)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("an unpaced pacer held 12 MB for %v", d)
	}
}
