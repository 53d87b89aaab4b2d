package rendezvous

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/internal/testredis"
	"github.com/deskport/deskport/signaling"
)

// waitValue scrapes url until the series has value n (the other instance's part of a session
// crosses the bus, so it lands a moment later), and fails the test after 10 s.
func waitValue(t *testing.T, url, name string, n float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := promtest.Get(t, url).Value(t, name, labels...)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterMetricsCountEachSessionOnce: a session between a viewer on instance B and a host
// on instance A lives on both instances, but its start, its outcome and its offer→answer time
// are counted once, by A (where it started and where the host's limits are checked), so that
// a dashboard's sum over instances is the number of sessions. Refusals only the viewer's
// instance sees (an unknown host, Redis unreachable) are counted there.
func TestClusterMetricsCountEachSessionOnce(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	urlA, urlB := serveMetrics(t, a.Server), serveMetrics(t, b.Server)
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	ctx := ctx10(t)

	// One completed session across instances.
	v, err := Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, ctx, v, accepted)
	v.Close()
	waitValue(t, urlA, ns+"sessions_completed_total", 1)
	mA, mB := promtest.Get(t, urlA), promtest.Get(t, urlB)
	want(t, mA, ns+"sessions_started_total", 1)
	want(t, mB, ns+"sessions_started_total", 0)
	want(t, mB, ns+"sessions_completed_total", 0)
	if got := mA.Count(t, ns+"offer_answer_seconds") + mB.Count(t, ns+"offer_answer_seconds"); got != 1 {
		t.Fatalf("offer→answer observed %d times over both instances for one session", got)
	}

	// A viewer on B whose socket drops before the host answered: one failure, viewer_gone,
	// counted by A.
	v2, err := Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitValue(t, urlA, ns+"sessions_started_total", 2) // opened on A; the host never answers
	v2.cc.closeWith(1000, "", true)
	v2.Close()
	waitValue(t, urlA, ns+"sessions_failed_total", 1, "reason", FailViewerGone)
	want(t, promtest.Get(t, urlB), ns+"sessions_failed_total", 0, "reason", FailViewerGone)

	// A host no instance knows: refused by B alone, and counted there.
	_, other := newKey(t)
	if _, err := Dial(ctx, b.URL, other, nil); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("unknown host through B: %v", err)
	}
	want(t, promtest.Get(t, urlB), ns+"sessions_failed_total", 1, "reason", FailUnknownHost)

	// Redis away: B cannot find the host and says so; that failure is counted too.
	rs.Stop()
	var re *RefusedError
	if _, err := Dial(ctx, b.URL, hostID, nil); !errors.As(err, &re) || re.Code != signaling.CodeUnavailable {
		t.Fatalf("a host on A through B, without Redis: %v", err)
	}
	mA, mB = promtest.Get(t, urlA), promtest.Get(t, urlB)
	want(t, mB, ns+"sessions_failed_total", 1, "reason", FailUnavailable)

	// Over both instances: started = completed + failed after start (nothing is pending).
	started := mA.Value(t, ns+"sessions_started_total") + mB.Value(t, ns+"sessions_started_total")
	ended := mA.Value(t, ns+"sessions_completed_total") + mB.Value(t, ns+"sessions_completed_total")
	for _, r := range []string{FailExpired, FailEvicted, FailHostBye, FailViewerBye, FailHostGone, FailViewerGone, FailShutdown} {
		ended += mA.Value(t, ns+"sessions_failed_total", "reason", r) + mB.Value(t, ns+"sessions_failed_total", "reason", r)
	}
	if started != 2 || ended != 2 {
		t.Fatalf("over both instances: %v started, %v completed or failed; want 2 and 2", started, ended)
	}

	// Every Redis operation label is one the backend performs (here, on one instance or the
	// other): none is exported only to stay 0.
	var ops []string
	for _, m := range mB["deskport_rendezvous_redis_round_trips_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "op" && l.GetValue() != RedisOpOther {
				ops = append(ops, l.GetValue())
				if m.GetCounter().GetValue()+mA.Value(t, "deskport_rendezvous_redis_round_trips_total", "op", l.GetValue()) == 0 {
					t.Errorf("redis_round_trips_total{op=%q} never moved", l.GetValue())
				}
			}
		}
	}
	sort.Strings(ops)
	if got := strings.Join(ops, ","); got != "lookup,presence,publish" {
		t.Errorf("redis operations %s, want lookup,presence,publish", got)
	}
}

// TestClusterMetricsReplacedAcrossInstances: a host key that registers on B while its older
// connection is on A counts as `replaced` on A, the instance that closes the older connection,
// as it would on one instance; B counts the new registration as `registered`. So the sum of
// `replaced` over the instances is the number of connections closed for a newer registration,
// wherever the two landed.
func TestClusterMetricsReplacedAcrossInstances(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	urlA, urlB := serveMetrics(t, a.Server), serveMetrics(t, b.Server)
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: a.URL, Key: key, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	a.waitClaimed(t, hostID)
	startHost(t, &HostClient{URL: b.URL, Key: key, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	b.waitClaimed(t, hostID)
	select {
	case <-a.offline:
	case <-time.After(10 * time.Second):
		t.Fatal("A kept the replaced connection")
	}
	const reg = ns + "host_registrations_total"
	waitValue(t, urlA, reg, 1, "result", "replaced")
	mA, mB := promtest.Get(t, urlA), promtest.Get(t, urlB)
	want(t, mA, reg, 1, "result", "registered")
	want(t, mB, reg, 1, "result", "registered")
	want(t, mB, reg, 0, "result", "replaced")
}
