package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testredis"
)

// opsHealth is what /healthz and /readyz answer (docs/signaling.md).
type opsHealth struct {
	OK    bool   `json:"ok"`
	Ready bool   `json:"ready"`
	Redis string `json:"redis"`
	Hosts int    `json:"hosts"`
}

func getOpsHealth(t *testing.T, c *http.Client, url string) (int, opsHealth) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h opsHealth
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, h
}

// TestOpsHealthzFollowsRedis runs the rendezvous binary with --redis and a host on it. When
// redis-server is killed, /healthz keeps answering 200 "ok":true (the instance still serves its
// host) with "redis":"down" and "ready":false, and /readyz answers 503; when Redis restarts
// (empty), both report it up again once the host is published again.
func TestOpsHealthzFollowsRedis(t *testing.T) {
	rs := testredis.Start(t)
	w := newWorldWith(t, "--redis", rs.URL(), "-v")
	w.startHost(t)
	w.rv.waitFor(`host published in Redis.*host_id=`+w.hostID, 10*time.Second)
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()

	wait := func(redis string, readyCode int) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(20 * time.Second) // the renewal period is 5 s
		for {
			hc, h := getOpsHealth(t, c, w.rvURL+"/healthz")
			rc, _ := getOpsHealth(t, c, w.rvURL+"/readyz")
			if h.Redis == redis && rc == readyCode {
				if hc != 200 || !h.OK || h.Ready != (redis == "up") || h.Hosts != 1 {
					t.Fatalf("/healthz %d %+v with Redis %s", hc, h, redis)
				}
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz says redis %q, /readyz %d; want %q and %d", h.Redis, rc, redis, readyCode)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("up", 200)
	rs.Stop()
	t.Logf("Redis reported down %v after it was killed", wait("down", 503).Round(time.Millisecond))
	w.rv.waitFor(`lost Redis`, time.Second)
	rs.Restart()
	t.Logf("Redis reported up %v after it restarted", wait("up", 200).Round(time.Millisecond))
	w.rv.waitFor(`Redis is back`, time.Second)
}
