package loadgen

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/rendezvous"
)

// needSpread skips the test where loopback addresses beyond 127.0.0.1 cannot be bound (they
// can on Linux, where all of 127.0.0.0/8 is the loopback interface's).
func needSpread(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.101.0.1:0")
	if err != nil {
		t.Skipf("cannot bind 127.101.0.1, which the generator spreads its connections over: %v", err)
	}
	ln.Close()
}

// startRendezvous serves a real rendezvous with default limits on a loopback listener.
func startRendezvous(t *testing.T) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := rendezvous.New(rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// TestSmoke registers 200 hosts, from more loopback addresses than the default per-address cap
// allows one, and runs sessions through the rendezvous: every one completes.
func TestSmoke(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	needSpread(t)
	if _, err := RaiseFileLimit(4096); err != nil {
		t.Fatal(err)
	}
	url, _ := startRendezvous(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hosts, err := StartHosts(ctx, HostsConfig{
		URLs: []string{url}, Keys: Keys(200, 1), Source: Spread{Block: 101, PerAddr: 16}.Addr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hosts.Close()
	v := &Viewers{URLs: []string{url}, Source: Spread{Block: 102, PerAddr: 1}.Addr}
	ss := v.Run(ctx, RunConfig{Rate: 200, Count: 40, Target: func(j int) (int, int, string) {
		i := j * 5 % hosts.Len()
		return 0, i, hosts.ID(i)
	}})
	sum := Summarize(ss)
	if sum.Failed != 0 {
		t.Fatalf("%d of %d sessions failed: %v", sum.Failed, sum.Sessions, sum.Errors)
	}
	if sum.P50 <= 0 || sum.P99 < sum.P50 {
		t.Fatalf("latencies p50 %v p99 %v", sum.P50, sum.P99)
	}
	if got := hosts.Answered(); got != 40 {
		t.Fatalf("hosts answered %d offers, want 40", got)
	}
	// A host nobody registered is refused with the rendezvous's unknown_host.
	s := v.Open(ctx, 0, "aaaaaaaaaaaaaaaaaaaaaaaa")
	if re, ok := s.Err.(*RefusedError); !ok || re.Code != "unknown_host" {
		t.Fatalf("a session with an unknown host: %v, want unknown_host", s.Err)
	}
}

// TestFailover registers hosts on instance A, keeps a session open on instance B, closes A,
// and measures every host of A reachable through B while B's session lives on.
func TestFailover(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	needSpread(t)
	urlA, stopA := startRendezvous(t)
	urlB, _ := startRendezvous(t)
	urls := []string{urlA, urlB}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 50
	hosts, err := StartHosts(ctx, HostsConfig{
		URLs: urls, Keys: Keys(n+1, 3), Source: Spread{Block: 103, PerAddr: 16}.Addr,
		First: func(i int) int { return i / n }, // hosts 0..n-1 on A, host n on B
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hosts.Close()
	v := &Viewers{URLs: urls, Source: Spread{Block: 104, PerAddr: 1}.Addr}
	held, err := v.Hold(ctx, 1, hosts.ID(n))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	t0 := time.Now()
	stopA()
	which := make([]int, n)
	for i := range which {
		which[i] = i
	}
	fs := MeasureFailover(ctx, hosts, v, which, 1, t0)
	for _, f := range fs {
		if f.Err != nil || f.URL != 1 || f.Reachable < f.Registered {
			t.Fatalf("host %d: %+v", f.Host, f)
		}
	}
	if err := held.Check(ctx); err != nil {
		t.Fatalf("the session on B after A went away: %v", err)
	}
}

func TestSpread(t *testing.T) {
	s := Spread{Block: 7, PerAddr: 16}
	seen := map[string]int{}
	for i := range 20000 {
		a := s.Addr(i)
		b := a.As4()
		if b[0] != 127 || b[1] != 7 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("Addr(%d) = %v", i, a)
		}
		seen[a.String()]++
	}
	for a, n := range seen {
		if n > 16 {
			t.Fatalf("%v carries %d connections, want at most 16", a, n)
		}
	}
	if len(seen) != 1250 {
		t.Fatalf("%d addresses for 20,000 connections, want 1250", len(seen))
	}
}

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(101-i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}, {1, 1}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
}

// TestRelay runs the baseline: pairs through the raw relay, and idle connections it holds.
func TestRelay(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	needSpread(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{}
	srv := &http.Server{Handler: r.Handler()}
	go srv.Serve(ln)
	defer func() {
		srv.Close()
		r.Wait()
	}()
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum := Summarize(RunRelay(ctx, base, RunConfig{Rate: 200, Count: 20}, Spread{Block: 105, PerAddr: 1}.Addr))
	if sum.Failed != 0 || sum.P50 <= 0 {
		t.Fatalf("relay: %+v", sum)
	}
	idle, err := DialIdle(ctx, base, 50, Spread{Block: 106, PerAddr: 16}.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for r.Conns() < 50 { // each handler counts itself once its upgrade is done
		select {
		case <-ctx.Done():
			t.Fatalf("the relay holds %d connections, want 50", r.Conns())
		case <-time.After(time.Millisecond):
		}
	}
}

// TestPlan runs deskport-load's plan against a real rendezvous: hosts, sessions, the report.
func TestPlan(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	needSpread(t)
	url, _ := startRendezvous(t)
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := Plan{URLs: []string{url}, Hosts: 60, Rate: 100, Duration: 200 * time.Millisecond, Loopback: true, Seed: 9, Out: &out}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "same instance: 20 sessions at 100/s, 0 failed") {
		t.Fatalf("report:\n%s", out.String())
	}
	if err := (Plan{URLs: []string{"http://example.com"}, Hosts: 1, Loopback: true}).Validate(); err == nil {
		t.Fatal("a loopback spread for a remote URL validated")
	}
}
