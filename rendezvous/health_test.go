package rendezvous

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testredis"
)

// fakeCluster is a cluster whose shared state is reachable or not as the test says.
type fakeCluster struct{ down atomic.Bool }

func (f *fakeCluster) id() string                { return "fake" }
func (f *fakeCluster) hostUp(string, string)     {}
func (f *fakeCluster) hostDown(string)           {}
func (f *fakeCluster) publish(string, *envelope) {}
func (f *fakeCluster) reachable() bool           { return !f.down.Load() }
func (f *fakeCluster) close() error              { return nil }
func (f *fakeCluster) locate(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}

// getHealth asks h for path and decodes its answer.
func getHealth(t *testing.T, h http.Handler, path string) (int, health, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	var got health
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%s: %v: %s", path, err, rec.Body)
	}
	json.Unmarshal(rec.Body.Bytes(), &raw)
	return rec.Code, got, raw
}

// TestHealthzReportsRedis: /healthz stays 200 with "ok":true while Redis is down (the instance
// still serves its hosts) and says so in "redis" and "ready"; /readyz answers 503 then. Both
// answer 503 once the server shuts down. Without --redis there is no "redis" field and /readyz
// is /healthz.
func TestHealthzReportsRedis(t *testing.T) {
	alone, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, h, raw := getHealth(t, alone.Handler(), path)
		if _, has := raw["redis"]; code != 200 || !h.OK || !h.Ready || has {
			t.Errorf("without Redis, %s: %d %v", path, code, raw)
		}
	}

	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeCluster{}
	s.cluster = fc
	hd := s.Handler()
	check := func(path string, wantCode int, want health) {
		t.Helper()
		code, h, _ := getHealth(t, hd, path)
		if code != wantCode || h.OK != want.OK || h.Ready != want.Ready || h.Redis != want.Redis {
			t.Errorf("%s: %d %+v, want %d %+v", path, code, h, wantCode, want)
		}
	}
	check("/healthz", 200, health{OK: true, Ready: true, Redis: "up"})
	check("/readyz", 200, health{OK: true, Ready: true, Redis: "up"})
	fc.down.Store(true)
	check("/healthz", 200, health{OK: true, Ready: false, Redis: "down"})
	check("/readyz", 503, health{OK: true, Ready: false, Redis: "down"})
	fc.down.Store(false)
	check("/readyz", 200, health{OK: true, Ready: true, Redis: "up"})
	s.Close()
	check("/healthz", 503, health{OK: false, Ready: false, Redis: "up"})
	check("/readyz", 503, health{OK: false, Ready: false, Redis: "up"})
}

// TestHealthzFollowsRedis: with a real redis-server, an instance reports Redis down on
// /healthz (still 200) and /readyz (503) after Redis is killed, and up again once Redis is
// back and the instance has published its hosts again.
func TestHealthzFollowsRedis(t *testing.T) {
	leakCheck(t)
	rs := testredis.Start(t)
	a := startClusterServerEvery(t, rs.URL(), Config{}, 100*time.Millisecond)
	key, hostID := newKey(t)
	startHost(t, &HostClient{URL: a.URL, Key: key})
	a.waitClaimed(t, hostID)
	hd := a.Handler()
	wait := func(redis string, readyCode int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			hc, h, _ := getHealth(t, hd, "/healthz")
			rc, _, _ := getHealth(t, hd, "/readyz")
			if h.Redis == redis && rc == readyCode {
				if hc != 200 || !h.OK || h.Ready != (redis == "up") || h.Hosts != 1 {
					t.Fatalf("/healthz %d %+v with Redis %s", hc, h, redis)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis %q, /readyz %d; want %q and %d", h.Redis, rc, redis, readyCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("up", 200)
	rs.Stop()
	wait("down", 503)
	rs.Restart()
	wait("up", 200)
	a.waitClaimed(t, hostID) // published again: what "up" waited for
}
