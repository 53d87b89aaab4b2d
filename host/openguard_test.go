package host

import (
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/audit"
)

// fakeClock is a settable time for the guard.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestOpenGuardRate: the burst, then the rate; refusals cost double; strikes are forgiven over
// time, so only sustained abuse ends a session.
func TestOpenGuardRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	g := newOpenGuard(clk.now)
	for i := range OpenBurst {
		if !g.open() {
			t.Fatalf("open %d of the burst refused", i)
		}
	}
	if g.open() {
		t.Fatal("an open beyond the burst was allowed")
	}
	clk.advance(time.Second)
	allowed := 0
	for g.open() {
		allowed++
	}
	if allowed != OpenRate {
		t.Fatalf("%d opens a second later, want %d", allowed, OpenRate)
	}
	// Refusals count double: a second of refused opens gets half the rate.
	clk.advance(time.Second)
	allowed = 0
	for g.open() {
		allowed++
		g.refused()
	}
	if allowed != OpenRate/2 {
		t.Fatalf("%d refused opens in a second, want %d", allowed, OpenRate/2)
	}
	// A burst over the rate now and then is forgiven...
	for range 10 {
		clk.advance(10 * time.Second)
		for range OpenBurst + AbuseStrikes/10 {
			g.open()
		}
	}
	select {
	case <-g.abused:
		t.Fatal("occasional bursts ended the session")
	default:
	}
	// ...hammering is not.
	for range AbuseStrikes {
		g.open()
	}
	select {
	case <-g.abused:
	default:
		t.Fatal("sustained abuse did not end the session")
	}
}

// TestOpenGuardSummaries: per interval the first refusals are written, the rest become one
// summary line with their count, written when the next interval starts or the session ends.
func TestOpenGuardSummaries(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	g := newOpenGuard(clk.now)
	var lines []audit.Event
	rec := g.record(func(e audit.Event) { lines = append(lines, e) })
	for i := range 1000 {
		rec(audit.Event{Type: audit.TypeRefused, Target: "127.0.0.1:1", Error: "not granted"})
		if i == 499 {
			clk.advance(RefusalInterval)
		}
	}
	rec(audit.Event{Type: audit.TypeForward, Target: "127.0.0.1:2"}) // never summarised
	g.flushAudit(func(e audit.Event) { lines = append(lines, e) })
	var one, summaries, counted int
	for _, e := range lines {
		switch {
		case e.Type == audit.TypeRefused && e.Count > 0:
			summaries++
			counted += e.Count
			if !strings.Contains(e.Error, "127.0.0.1:1: not granted") {
				t.Errorf("summary %q does not name the last refusal", e.Error)
			}
		case e.Type == audit.TypeRefused:
			one++
		}
	}
	if one != 2*RefusalsPerInterval || summaries != 2 || one+counted != 1000 {
		t.Fatalf("%d single lines, %d summaries counting %d; want %d, 2 and all 1000 accounted for", one, summaries, counted, 2*RefusalsPerInterval)
	}
	if last := lines[len(lines)-1]; last.Count == 0 {
		t.Errorf("the last line %+v is not the end-of-session summary", last)
	}
}
