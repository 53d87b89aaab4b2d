package rendezvous

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/testredis"
	"github.com/deskport/deskport/signaling"
)

type clusterServer struct {
	*testServer
	claimed    chan string
	subscribed chan struct{}
}

// startClusterServer runs an instance on the Redis at redisURL and waits until it listens on
// its bus.
func startClusterServer(t *testing.T, redisURL string, cfg Config) *clusterServer {
	t.Helper()
	return startClusterServerEvery(t, redisURL, cfg, 0)
}

// startClusterServerEvery is startClusterServer with the presence renewal period every (0 for
// the default).
func startClusterServerEvery(t *testing.T, redisURL string, cfg Config, every time.Duration) *clusterServer {
	t.Helper()
	cs := &clusterServer{claimed: make(chan string, 64), subscribed: make(chan struct{}, 16)}
	cfg.Redis = redisURL
	cfg.clusterTest = &clusterTestHooks{
		claimed: func(id string) {
			select {
			case cs.claimed <- id:
			default:
			}
		},
		subscribed: func() {
			select {
			case cs.subscribed <- struct{}{}:
			default:
			}
		},
		every: every,
	}
	cs.testServer = startServer(t, cfg)
	cs.waitSubscribed(t)
	return cs
}

func (cs *clusterServer) waitSubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-cs.subscribed:
	case <-time.After(15 * time.Second):
		t.Fatal("the instance did not subscribe to its bus channel")
	}
}

func (cs *clusterServer) waitClaimed(t *testing.T, hostID string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case id := <-cs.claimed:
			if id == hostID {
				return
			}
		case <-timeout:
			t.Fatalf("host %s was not published in Redis", hostID)
		}
	}
}

// exchange runs offer, answer and a candidate each way between a viewer and a host session
// and checks what each end gets.
func exchange(t *testing.T, ctx context.Context, v *Session, accepted <-chan *Session) *Session {
	t.Helper()
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	var h *Session
	select {
	case h = <-accepted:
	case <-ctx.Done():
		t.Fatal("the host got no session")
	}
	if h.ID() != v.ID() {
		t.Fatalf("host session %s, viewer session %s", h.ID(), v.ID())
	}
	if m := recv(t, h); m.Type != signaling.TypeOffer || m.SDP != "v=0 offer" || !strings.HasPrefix(m.ViewerAddr, "127.0.0.1:") {
		t.Fatalf("host got %+v", m)
	}
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	cand := &signaling.Candidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 5000 typ host"}
	if err := h.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: cand}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, v); m.Type != signaling.TypeAnswer || m.SDP != "v=0 answer" {
		t.Fatalf("viewer got %+v", m)
	}
	if m := recv(t, v); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != cand.Candidate {
		t.Fatalf("viewer got %+v", m)
	}
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{}}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, h); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != "" {
		t.Fatalf("host got %+v", m)
	}
	return h
}

// TestClusterRoutesAcrossInstances: a viewer on instance B reaches a host on instance A; each
// end gets its own instance's ICE servers; a bye and a dropped viewer reach the other side.
func TestClusterRoutesAcrossInstances(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	var (
		mu  sync.Mutex
		ops = map[string]int{}
	)
	a := startClusterServer(t, rs.URL(), Config{ICEServers: []ICEServer{{URLs: []string{"stun:a.example:3478"}}}})
	b := startClusterServer(t, rs.URL(), Config{ICEServers: []ICEServer{{URLs: []string{"stun:b.example:3478"}}},
		OnRedis: func(op string, d time.Duration, err error) {
			if err == nil {
				mu.Lock()
				ops[op]++
				mu.Unlock()
			}
		}})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	ctx := ctx10(t)

	v, err := Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatalf("Dial through B for a host on A: %v", err)
	}
	if got := v.ICEServers(); len(got) != 1 || got[0].URLs[0] != "stun:b.example:3478" {
		t.Fatalf("viewer ICE servers %v, want B's", got)
	}
	h := exchange(t, ctx, v, accepted)
	if got := h.ICEServers(); len(got) != 1 || got[0].URLs[0] != "stun:a.example:3478" {
		t.Fatalf("host ICE servers %v, want A's", got)
	}
	// The viewer ends the session: its bye crosses over, without a code (it came from the peer).
	v.Close()
	if m := recv(t, h); m.Type != signaling.TypeBye || m.Code != "" {
		t.Fatalf("host got %+v", m)
	}

	// A second session, and the viewer's socket goes away: the host gets peer_gone.
	v2, err := Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2 := exchange(t, ctx, v2, accepted)
	v2.cc.closeWith(1000, "", true)
	if m := recv(t, h2); m.Type != signaling.TypeBye || m.Code != signaling.ByePeerGone {
		t.Fatalf("host got %+v after the viewer dropped", m)
	}
	v2.Close()

	// A host that is neither here nor anywhere: unknown; one that left: offline, last seen.
	_, other := newKey(t)
	if _, err := Dial(ctx, b.URL, other, nil); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("unknown host through B: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ops["locate"] < 3 || ops["publish"] == 0 {
		t.Fatalf("OnRedis saw %v, want locate and publish round trips", ops)
	}
}

// TestClusterHostOffline: a host that left instance A is "offline, last seen", not unknown,
// from instance B.
func TestClusterHostOffline(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	key, hostID := newKey(t)
	_, stop := startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	stop()
	<-a.offline
	// The release is written by A's presence writer; B sees the host gone once it is.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	ctx := ctx10(t)
	for {
		n, err := rdb.Exists(ctx, keyHost+hostID).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("A did not release the host in Redis")
		case <-time.After(10 * time.Millisecond):
		}
	}
	_, err := Dial(ctx, b.URL, hostID, nil)
	if !errors.Is(err, ErrHostOffline) || !strings.Contains(err.Error(), "last seen") {
		t.Fatalf("a host that left A, through B: %v", err)
	}
}

// TestClusterReplacedAcrossInstances: the same key registering on B closes its connection on
// A, as on one instance, and viewers on A then reach it on B.
func TestClusterReplacedAcrossInstances(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: a.URL, Key: key, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	a.waitClaimed(t, hostID)
	accepted, _ := startHost(t, &HostClient{URL: b.URL, Key: key, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	b.waitClaimed(t, hostID)
	select {
	case id := <-a.offline:
		if id != hostID {
			t.Fatalf("offline on A: %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A kept the replaced connection")
	}
	ctx := ctx10(t)
	v, err := Dial(ctx, a.URL, hostID, nil)
	if err != nil {
		t.Fatalf("Dial through A for the host now on B: %v", err)
	}
	defer v.Close()
	exchange(t, ctx, v, accepted)
}

// TestClusterPendingLimitsAcrossInstances: the per-address and per-host pending caps count the
// attempts that arrive through every instance.
func TestClusterPendingLimitsAcrossInstances(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	cfg := Config{MaxPendingPerHost: 4, TrustProxyHeaders: true}
	a := startClusterServer(t, rs.URL(), cfg)
	b := startClusterServer(t, rs.URL(), cfg)
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	ctx := ctx10(t)
	from := func(ip string) *DialOptions {
		return &DialOptions{HTTPClient: &http.Client{Transport: forwardedFor(ip)}}
	}
	// One address holds at most half of the host's waiting attempts: one through each
	// instance, then a third through either is refused.
	var first []*Session
	for _, ts := range []*clusterServer{b, a} {
		v, err := Dial(ctx, ts.URL, hostID, from("203.0.113.1"))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		first = append(first, v)
	}
	if _, err := Dial(ctx, b.URL, hostID, from("203.0.113.1")); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "your address") {
		t.Fatalf("third attempt from one address, through B: %v", err)
	}
	for range 2 {
		v, err := Dial(ctx, b.URL, hostID, from("203.0.113.2"))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
	}
	// The host is full; a newcomer evicts the oldest attempt of the busiest address, which
	// waits on B: its bye crosses over.
	v, err := Dial(ctx, a.URL, hostID, from("203.0.113.3"))
	if err != nil {
		t.Fatalf("a newcomer to a full host: %v", err)
	}
	defer v.Close()
	select {
	case m := <-first[0].Recv():
		if m == nil || m.Type != signaling.TypeBye || m.Code != signaling.ByeExpired {
			t.Fatalf("the evicted session got %+v, want a bye", m)
		}
	case <-ctx.Done():
		t.Fatal("the oldest waiting session was not evicted")
	}
}

// TestClusterSurvivesLosingRedis: without Redis, hosts keep working through their own
// instance and cross-instance sessions are refused with a clear error; when Redis comes back
// empty, the instances publish their hosts again and cross-instance sessions work.
func TestClusterSurvivesLosingRedis(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rs.Stop()
	v, err := Dial(ctx, a.URL, hostID, nil)
	if err != nil {
		t.Fatalf("a host on A through A, without Redis: %v", err)
	}
	exchange(t, ctx, v, accepted)
	v.Close()
	start := time.Now()
	_, err = Dial(ctx, b.URL, hostID, nil)
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != signaling.CodeUnavailable || !strings.Contains(re.Message, "cannot reach Redis") {
		t.Fatalf("a host on A through B, without Redis: %v", err)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)

	rs.Restart()
	a.waitClaimed(t, hostID) // A re-publishes its host into the empty Redis
	a.waitSubscribed(t)
	b.waitSubscribed(t)
	v, err = Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatalf("a host on A through B, Redis back: %v", err)
	}
	defer v.Close()
	exchange(t, ctx, v, accepted)
}

// TestHostFailsOverBetweenURLs: a host given two instances moves to the second when the first
// goes away, and is reachable through it.
func TestHostFailsOverBetweenURLs(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServer(t, rs.URL(), Config{})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: a.URL + ", " + b.URL, Key: key})
	a.waitClaimed(t, hostID)
	start := time.Now()
	a.stop()
	b.waitClaimed(t, hostID)
	ctx := ctx10(t)
	v, err := Dial(ctx, b.URL+","+a.URL, hostID, nil)
	if err != nil {
		t.Fatalf("Dial through B after A stopped: %v", err)
	}
	defer v.Close()
	exchange(t, ctx, v, accepted)
	t.Logf("reachable through B %v after A stopped", time.Since(start).Round(time.Millisecond))
	// A viewer given a dead instance first moves on to the next.
	v2, err := Dial(ctx, a.URL+","+b.URL, hostID, nil)
	if err != nil {
		t.Fatalf("Dial with A (down) first: %v", err)
	}
	v2.Close()
}

func TestDecodeEnvelope(t *testing.T) {
	good := `{"k":"msg","f":"ab","s":"0123456789abcdef0123456789abcdef","m":{"type":"bye","session":"0123456789abcdef0123456789abcdef"}}`
	if _, m, err := decodeEnvelope([]byte(good)); err != nil || m.Type != signaling.TypeBye {
		t.Fatalf("good envelope: %v", err)
	}
	for name, in := range map[string]string{
		"not json":       `{`,
		"no sender":      `{"k":"msg","s":"0123456789abcdef0123456789abcdef","m":{"type":"bye","session":"0123456789abcdef0123456789abcdef"}}`,
		"unknown kind":   `{"k":"zap","f":"ab"}`,
		"bad session":    `{"k":"msg","f":"ab","s":"xyz","m":{"type":"bye","session":"xyz"}}`,
		"other session":  `{"k":"msg","f":"ab","s":"0123456789abcdef0123456789abcdef","m":{"type":"bye","session":"fedcba9876543210fedcba9876543210"}}`,
		"bad message":    `{"k":"msg","f":"ab","s":"0123456789abcdef0123456789abcdef","m":{"type":"nope"}}`,
		"open, no host":  `{"k":"open","f":"ab","s":"0123456789abcdef0123456789abcdef","ip":"1.2.3.4"}`,
		"open, no ip":    `{"k":"open","f":"ab","s":"0123456789abcdef0123456789abcdef","h":"aaaaaaaaaaaaaaaaaaaaaaaa"}`,
		"replaced, host": `{"k":"replaced","f":"ab","h":"x"}`,
		"long sender":    `{"k":"replaced","f":"` + strings.Repeat("a", 65) + `","h":"aaaaaaaaaaaaaaaaaaaaaaaa"}`,
	} {
		if _, _, err := decodeEnvelope([]byte(in)); !errors.Is(err, errBadEnvelope) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"k":"msg","f":"ab","s":"0123456789abcdef0123456789abcdef","m":{"type":"bye","session":"0123456789abcdef0123456789abcdef"}}`))
	f.Add([]byte(`{"k":"open","f":"ab","s":"0123456789abcdef0123456789abcdef","h":"aaaaaaaaaaaaaaaaaaaaaaaa","ip":"1.2.3.4","a":"1.2.3.4:5"}`))
	f.Add([]byte(`{"k":"replaced","f":"ab","h":"aaaaaaaaaaaaaaaaaaaaaaaa"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, m, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if e.Kind == kindMsg && m == nil {
			t.Fatal("a msg envelope without its message")
		}
		if m != nil {
			if _, err := signaling.Encode(m); err != nil {
				t.Fatalf("decoded a message that does not encode: %v", err)
			}
		}
	})
}

// TestClusterDeadInstance: a host whose record names an instance that no longer answers (it
// died; the record has not expired yet) gets a clear "retry" error, not a hang.
func TestClusterDeadInstance(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	b := startClusterServer(t, rs.URL(), Config{})
	_, hostID := newKey(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	ctx := ctx10(t)
	if err := rdb.Set(ctx, keyHost+hostID, "0123456789abcdef", presenceTTL).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(ctx, b.URL, hostID, nil)
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != signaling.CodeUnavailable || !strings.Contains(re.Message, "did not answer") {
		t.Fatalf("a host on a dead instance: %v", err)
	}
	// The viewer's connection is free again: its attempt is forgotten.
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sessions left after the refused attempt", n)
	}
}

func TestConfigRedisURL(t *testing.T) {
	err := Config{Redis: "http://:hunter2@example.com"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "not a Redis URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Validate of a bad Redis URL: %v", err)
	}
	if err := (Config{Redis: "redis://:pw@127.0.0.1:6379/1"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestClusterShutdownReleasesHosts: an instance that shuts down removes its hosts from Redis
// before it returns, so that no other instance sends viewers to it.
func TestClusterShutdownReleasesHosts(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: a.URL, Key: key, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	a.waitClaimed(t, hostID)
	a.stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	ctx := ctx10(t)
	if n, err := rdb.Exists(ctx, keyHost+hostID).Result(); err != nil || n != 0 {
		t.Fatalf("after shutdown the host's record exists (%d, %v)", n, err)
	}
	if seen, err := rdb.ZScore(ctx, keySeen, hostID).Result(); err != nil || seen == 0 {
		t.Fatalf("after shutdown the host has no last-seen time (%v, %v)", seen, err)
	}
}

// BenchmarkSignalingRoundTrip measures connect, offer → answer between a viewer and a host:
// through the host's own instance, and through another instance over Redis.
func BenchmarkSignalingRoundTrip(b *testing.B) {
	rs := testredis.Start(b)
	for _, tc := range []struct {
		name  string
		cross bool
	}{{"one-instance", false}, {"across-instances", true}} {
		b.Run(tc.name, func(b *testing.B) {
			start := func(cfg Config) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				cfg.Redis = rs.URL()
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { s.Serve(ctx, ln); close(done) }()
				b.Cleanup(func() { cancel(); <-done })
				return "http://" + ln.Addr().String()
			}
			claimed := make(chan string, 4)
			hooks := &clusterTestHooks{claimed: func(id string) {
				select {
				case claimed <- id:
				default:
				}
			}, subscribed: func() {}}
			urlA := start(Config{clusterTest: hooks, MessageRate: 1e6, MessageBurst: 1e6})
			urlV := urlA
			if tc.cross {
				urlV = start(Config{MessageRate: 1e6, MessageBurst: 1e6})
			}
			_, key, _ := ed25519.GenerateKey(nil)
			hostID := identity.HostID(key.Public().(ed25519.PublicKey))
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				errc <- (&HostClient{URL: urlA, Key: key}).Run(ctx, func(s *Session) {
					for m := range s.Recv() {
						if m.Type == signaling.TypeOffer {
							s.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0 answer"})
						}
					}
				})
			}()
			b.Cleanup(func() { cancel(); <-errc })
			for id := range claimed {
				if id == hostID {
					break
				}
			}
			b.ResetTimer()
			for b.Loop() {
				v, err := Dial(ctx, urlV, hostID, nil)
				if err != nil {
					b.Fatal(err)
				}
				v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"})
				if m := <-v.Recv(); m == nil || m.Type != signaling.TypeAnswer {
					b.Fatalf("viewer got %+v", m)
				}
				v.Close()
			}
		})
	}
}

// TestClusterInstanceGone: when the instance holding one end of a session stops renewing its
// alive key (it died), the other instance ends the session for its own end with peer_gone.
func TestClusterInstanceGone(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServer(t, rs.URL(), Config{})
	b := startClusterServerEvery(t, rs.URL(), Config{}, 50*time.Millisecond)
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	ctx := ctx10(t)
	v, err := Dial(ctx, b.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	exchange(t, ctx, v, accepted)

	// A dies as far as the cluster can tell: it stops renewing, and its key expires.
	a.cluster.close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	if err := rdb.Del(ctx, keyAlive+a.cluster.id()).Err(); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, v); m.Type != signaling.TypeBye || m.Code != signaling.ByePeerGone || !strings.Contains(m.Reason, "instance of the host is gone") {
		t.Fatalf("viewer got %+v", m)
	}
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sessions left on B", n)
	}
}
