package rendezvous

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/signaling"
)

// serveMetrics serves the server's /metrics on a listener of its own, as --metrics-listen
// does, and returns its URL.
func serveMetrics(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics().Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close(); <-done })
	return "http://" + ln.Addr().String() + "/metrics"
}

const ns = "deskport_rendezvous_"

// TestMetricsFollowSessions drives a real server with real clients through the ways a session
// starts, completes and fails, and checks after each step that the scraped series moved by
// exactly what happened.
func TestMetricsFollowSessions(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{PendingTimeout: 200 * time.Millisecond})
	other := startServer(t, Config{})
	url := serveMetrics(t, ts.Server)
	otherURL := serveMetrics(t, other.Server)
	ctx := ctx10(t)

	m := promtest.Get(t, url)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", ns + "hosts_online", ns + "offer_answer_seconds"} {
		if !m.Has(name) {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if m.Has(ns + "redis_round_trips_total") {
		t.Error("Redis series exported by a rendezvous without Redis")
	}
	if got := m.Value(t, ns+"sessions_failed_total", "reason", FailExpired); got != 0 {
		t.Fatalf("expired before anything happened: %v", got)
	}

	// A viewer asks for a host that never registered.
	_, hostID := newKey(t)
	if _, err := Dial(ctx, ts.URL, hostID, nil); err == nil {
		t.Fatal("Dial to an unknown host succeeded")
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_failed_total", 1, "reason", FailUnknownHost)
	want(t, m, ns+"sessions_started_total", 0)
	want(t, m, ns+"messages_total", 1, "type", "connect")

	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	m = promtest.Get(t, url)
	want(t, m, ns+"hosts_online", 1)
	want(t, m, ns+"host_registrations_total", 1, "result", "registered")

	// A session that completes: offer, answer.
	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_started_total", 1)
	want(t, m, ns+"viewers_connected", 1)
	want(t, m, ns+"sessions_open", 1)
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	h := <-accepted
	recv(t, h)
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	recv(t, v)
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_completed_total", 1)
	if got := m.Count(t, ns+"offer_answer_seconds"); got != 1 {
		t.Fatalf("offer_answer_seconds count %d, want 1", got)
	}
	if s := m.Sum(t, ns+"offer_answer_seconds"); s <= 0 || s > 10 {
		t.Fatalf("offer_answer_seconds sum %v", s)
	}
	want(t, m, ns+"messages_total", 1, "type", "offer")
	want(t, m, ns+"messages_total", 1, "type", "answer")
	// The viewer hangs up after the answer: the session is over, not failed.
	v.Close()
	if b := recv(t, h); b.Type != signaling.TypeBye {
		t.Fatalf("host got %+v", b)
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_failed_total", 0, "reason", FailViewerBye)
	want(t, m, ns+"sessions_open", 0)
	// The bye reaches the host before the viewer's WebSocket has closed: wait for the close.
	deadline := time.Now().Add(10 * time.Second)
	for promtest.Get(t, url).Value(t, ns+"viewers_connected") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("viewers_connected did not return to 0 after the viewer left")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The host refuses a session with a bye before answering.
	v, err = Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"})
	h = <-accepted
	recv(t, h)
	h.Send(ctx, &signaling.Message{Type: signaling.TypeBye, Reason: "no"})
	if b := recv(t, v); b.Type != signaling.TypeBye {
		t.Fatalf("viewer got %+v", b)
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_started_total", 2)
	want(t, m, ns+"sessions_completed_total", 1)
	want(t, m, ns+"sessions_failed_total", 1, "reason", FailHostBye)

	// A session the host never answers expires.
	v2, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	v2.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"})
	<-accepted
	if b := recv(t, v2); b.Type != signaling.TypeBye || b.Code != signaling.ByeExpired {
		t.Fatalf("viewer got %+v", b)
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"sessions_started_total", 3)
	want(t, m, ns+"sessions_failed_total", 1, "reason", FailExpired)
	want(t, m, ns+"offer_answer_seconds_count", -1) // absent: only the histogram family exists

	// A message over the size limit closes the connection and counts against its limit.
	ws := rawViewer(t, ctx, ts)
	ws.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", DefaultMaxMessageBytes+1)))
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("after an oversized message: %v", err)
	}
	m = promtest.Get(t, url)
	want(t, m, ns+"rejections_total", 1, "limit", LimitMessageBytes)

	// The other server, in the same process, saw none of it.
	o := promtest.Get(t, otherURL)
	want(t, o, ns+"sessions_started_total", 0)
	want(t, o, ns+"sessions_failed_total", 0, "reason", FailUnknownHost)
	want(t, o, ns+"hosts_online", 0)

	// Labels keep to their fixed sets whatever clients did.
	if got := m.Labels(ns+"sessions_failed_total", "reason"); len(got) != 13 {
		t.Errorf("reasons %v", got)
	}
	for name, fam := range m {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), hostID) || strings.Contains(l.GetValue(), "127.0.0.1") {
					t.Errorf("%s carries a host ID or address in label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// want checks a counter or gauge; n < 0 checks that the family is absent.
func want(t *testing.T, m promtest.Scrape, name string, n float64, labels ...string) {
	t.Helper()
	if n < 0 {
		if m.Has(name) {
			t.Errorf("%s present", name)
		}
		return
	}
	if got := m.Value(t, name, labels...); got != n {
		t.Errorf("%s%v = %v, want %v", name, labels, got, n)
	}
}

// TestMetricsRedisHook: the hook the Redis backend calls adds its series and keeps the
// operation label to its fixed set.
func TestMetricsRedisHook(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	url := serveMetrics(t, ts.Server)
	mt := ts.Metrics()
	mt.EnableRedis()
	mt.SetRedisUp(true)
	mt.RedisRoundTrip(RedisOpPublish, 2*time.Millisecond, nil)
	mt.RedisRoundTrip(RedisOpPublish, time.Millisecond, context.DeadlineExceeded)
	mt.RedisRoundTrip("host:"+strings.Repeat("a", 24), time.Millisecond, nil)
	m := promtest.Get(t, url)
	want(t, m, ns+"redis_up", 1)
	want(t, m, ns+"redis_round_trips_total", 2, "op", RedisOpPublish)
	want(t, m, ns+"redis_errors_total", 1, "op", RedisOpPublish)
	want(t, m, ns+"redis_round_trips_total", 1, "op", RedisOpOther)
	if got := m.Count(t, ns+"redis_round_trip_seconds", "op", RedisOpPublish); got != 2 {
		t.Fatalf("latency count %d", got)
	}
	if got := m.Labels(ns+"redis_round_trips_total", "op"); len(got) != len(redisOps) {
		t.Fatalf("op labels %v", got)
	}
}

// BenchmarkMessageHook is what counting costs every signaling message.
func BenchmarkMessageHook(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := s.Metrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.message("candidate")
		}
	})
}
