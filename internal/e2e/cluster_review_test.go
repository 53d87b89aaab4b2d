package e2e

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/internal/testredis"
)

// TestClusterOperatorPath is the operator's view of two real rendezvous processes over a real
// redis-server, each scraped on its --metrics-listen: a viewer given the instances as the host
// is (the flag repeated, the first one alive) reaches a host on the other instance and moves
// 16 MiB byte-exact; the session is counted once over both instances (started, completed, the
// offer→answer time), and a viewer asking for an unknown host through B moves B's failures.
func TestClusterOperatorPath(t *testing.T) {
	rs := testredis.Start(t)
	w := newWorldWith(t, "--stun-listen", "off", "--redis", rs.URL(), "--metrics-listen", "127.0.0.1:0", "-v")
	metricsA := "http://" + w.rv.waitFor(`metrics listening.*addr=(\S+)`, 10*time.Second)[1] + "/metrics"
	rvB := start(t, "rendezvous", "--listen", "127.0.0.1:0", "--stun-listen", "off", "--redis", rs.URL(), "--metrics-listen", "127.0.0.1:0", "-v")
	urlB := "http://" + rvB.waitFor(`rendezvous listening.*addr=(\S+)`, 30*time.Second)[1]
	metricsB := "http://" + rvB.waitFor(`metrics listening.*addr=(\S+)`, 10*time.Second)[1] + "/metrics"
	target := serveBlob16(t)
	w.startHost(t, "--allow", target.Addr().String())
	w.rv.waitFor(`host published in Redis.*host_id=`+w.hostID, 10*time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	// As on the host: --rendezvous repeated is a list, tried in order (B is up, the other not).
	v := start(t, "viewer", "forward", w.hostID, "--rendezvous", urlB, "--rendezvous", dead, "--key", w.viewerKey,
		"--ice-loopback-only", "-L", "127.0.0.1:0:"+target.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	fetch16(t, local)
	rvB.waitFor(`session created.*host_id=`+w.hostID+`.*instance=`, 5*time.Second)

	const ns = "deskport_rendezvous_"
	a, b := promtest.Get(t, metricsA), promtest.Get(t, metricsB)
	sum := func(name string) float64 { return a.Value(t, name) + b.Value(t, name) }
	if got := sum(ns + "sessions_started_total"); got != 1 {
		t.Errorf("sessions started over both instances: %v, want 1", got)
	}
	if got := sum(ns + "sessions_completed_total"); got != 1 {
		t.Errorf("sessions completed over both instances: %v, want 1", got)
	}
	if got := a.Count(t, ns+"offer_answer_seconds") + b.Count(t, ns+"offer_answer_seconds"); got != 1 {
		t.Errorf("offer→answer times observed over both instances: %d, want 1", got)
	}
	if a.Value(t, ns+"hosts_online") != 1 || a.Value(t, ns+"redis_up") != 1 || b.Value(t, ns+"redis_up") != 1 {
		t.Errorf("hosts_online on A %v, redis_up %v / %v; want 1, 1, 1", a.Value(t, ns+"hosts_online"), a.Value(t, ns+"redis_up"), b.Value(t, ns+"redis_up"))
	}

	// An ID no instance knows, asked through B: refused there, and counted there.
	out, err := run(t, "host", "id", "--key", filepath.Join(w.dir, "other.key"))
	if err != nil {
		t.Fatalf("host id: %v: %s", err, out)
	}
	out, err = run(t, "viewer", "forward", strings.TrimSpace(out), "--rendezvous", urlB, "--key", w.viewerKey,
		"--ice-loopback-only", "-L", "127.0.0.1:0:"+target.Addr().String())
	if err == nil || !regexp.MustCompile(`no host with ID \S+ is known`).MatchString(out) {
		t.Fatalf("viewer for an unknown host through B: %v\n%s", err, out)
	}
	b = promtest.Get(t, metricsB)
	if got := b.Value(t, ns+"sessions_failed_total", "reason", "unknown_host"); got != 1 {
		t.Errorf("unknown_host failures on B: %v, want 1", got)
	}
}

// TestRendezvousRedisFromEnvironment: the Redis URL, which may carry a password, can come from
// $DESKPORT_REDIS (for a service: an EnvironmentFile= that systemd reads as root, while the
// packaged rendezvous.toml is world-readable for its DynamicUser), and the password is never
// printed.
func TestRendezvousRedisFromEnvironment(t *testing.T) {
	rs := testredis.Start(t)
	url := strings.Replace(rs.URL(), "redis://", "redis://:nopass@", 1) // a password Redis does not check
	rv := startEnv(t, []string{"DESKPORT_REDIS=" + url}, "rendezvous", "--listen", "127.0.0.1:0", "--stun-listen", "off")
	line := rv.waitFor(`joined the rendezvous cluster.*redis=(\S+)`, 20*time.Second)
	if strings.Contains(line[0], "nopass") {
		t.Fatalf("the password is in the log: %s", line[0])
	}
	out, _ := run(t, "rendezvous", "--help")
	if !strings.Contains(out, "$DESKPORT_REDIS") {
		t.Fatalf("--help does not mention $DESKPORT_REDIS:\n%s", out)
	}
}
