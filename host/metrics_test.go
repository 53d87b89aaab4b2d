//go:build linux && cgo

package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

const hns = "deskport_host_"

// eventually scrapes until cond holds on the scrape, for figures the host updates just after
// the viewer sees the event (the refusal reaches the viewer before Accept returns on the host).
func eventually(t *testing.T, url string, what string, cond func(promtest.Scrape) bool) promtest.Scrape {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := promtest.Get(t, url)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostMetrics runs a real host (with a virtual display), a rendezvous and viewers, and
// checks that the host's scraped series move as a viewer is refused, a viewer connects,
// forwards bytes, watches the screen, is refused a forward, and leaves.
func TestHostMetrics(t *testing.T) {
	testenv.LookPath(t, "Xvfb")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	xs, err := xvfb.Start(ctx, xvfb.Config{Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()

	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	// An echo target for the forward.
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	dir := t.TempDir()
	goodKey := filepath.Join(dir, "good.key")
	vk, _, err := identity.LoadOrCreateKey(goodKey, "")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	os.WriteFile(authorized, []byte(identity.AuthorizedLine(vk.Public().(ed25519.PublicKey), "good")+"\n"), 0o600)
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := "http://" + mln.Addr().String() + "/metrics"
	a, err := New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), AuthorizedViewersPath: authorized,
		Allow: []string{echo.Addr().String()}, Desktop: DesktopConfig{Display: xs.Display(), Monitor: -1},
		Session: session.Config{LoopbackOnly: true}, MetricsListener: mln, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hostCtx, hostCancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(hostCtx) }()
	defer func() { hostCancel(); <-runDone }()
	waitOnline(t, rvURL, a.ID())

	m := promtest.Get(t, metricsURL)
	if !m.Has("go_goroutines") || !m.Has("process_resident_memory_bytes") {
		t.Fatal("no Go or process series")
	}
	if got := m.Value(t, hns+"sessions_total", "method", auth.MethodKey); got != 0 {
		t.Fatalf("sessions before any: %v", got)
	}

	// A viewer whose key is not authorized.
	if _, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "stranger.key"), HostID: a.ID(),
		Session: session.Config{LoopbackOnly: true}}); err == nil {
		t.Fatal("a stranger's key connected")
	}
	eventually(t, metricsURL, "refusals{unauthorized} = 1", func(m promtest.Scrape) bool {
		return m.Value(t, hns+"refusals_total", "reason", RefusedUnauthorized) == 1
	})

	// The authorized viewer, with video.
	conn, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: goodKey, HostID: a.ID(),
		Session: session.Config{LoopbackOnly: true, Video: &session.VideoConfig{}}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	eventually(t, metricsURL, "sessions{key} = 1", func(m promtest.Scrape) bool {
		return m.Value(t, hns+"sessions_total", "method", auth.MethodKey) == 1 && m.Value(t, hns+"sessions_open") == 1
	})
	c := forward.NewClient(conn.Mux, nil)
	s, err := c.Dial(ctx, echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	m = promtest.Get(t, metricsURL)
	if got := m.Value(t, hns+"streams_open"); got < 1 {
		t.Fatalf("streams_open = %v with a forward open", got)
	}
	payload := bytes.Repeat([]byte("metrics!"), 128<<10) // 1 MiB
	go s.Write(payload)
	back := make([]byte, len(payload))
	if _, err := io.ReadFull(s, back); err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("echo: %v", err)
	}
	m = eventually(t, metricsURL, "1 MiB forwarded each way", func(m promtest.Scrape) bool {
		return m.Value(t, hns+"forwarded_bytes_total", "direction", "from_viewer") >= float64(len(payload)) &&
			m.Value(t, hns+"forwarded_bytes_total", "direction", "to_viewer") >= float64(len(payload))
	})
	if m.Count(t, hns+"session_rtt_seconds") == 0 {
		t.Fatal("no RTT sample with a session open")
	}
	s.Close()

	// The screen: frames encoded and sent, with their encode time.
	select {
	case <-conn.Tracks:
	case <-ctx.Done():
		t.Fatal("no video track")
	}
	m = eventually(t, metricsURL, "a video frame", func(m promtest.Scrape) bool {
		return m.Value(t, hns+"video_frames_total") >= 1
	})
	if m.Value(t, hns+"video_keyframes_total") < 1 || m.Value(t, hns+"video_bytes_total") <= 0 || m.Count(t, hns+"video_encode_seconds") < 1 {
		t.Fatalf("video series did not move: keyframes %v bytes %v encodes %d", m.Value(t, hns+"video_keyframes_total"),
			m.Value(t, hns+"video_bytes_total"), m.Count(t, hns+"video_encode_seconds"))
	}

	// A forward the policy refuses.
	if _, err := c.Dial(ctx, "127.0.0.1:1"); err == nil {
		t.Fatal("a forward outside the allowlist was accepted")
	}
	m = promtest.Get(t, metricsURL)
	if got := m.Value(t, hns+"stream_refusals_total"); got != 1 {
		t.Fatalf("stream_refusals_total = %v, want 1", got)
	}

	conn.Close()
	m = eventually(t, metricsURL, "the session to end", func(m promtest.Scrape) bool {
		return m.Value(t, hns+"sessions_open") == 0 && m.Value(t, hns+"streams_open") == 0
	})
	for name, fam := range m {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), "127.0.0.1") || strings.Contains(l.GetValue(), a.ID()) {
					t.Errorf("%s carries an address or ID in %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsListenKey: --metrics-listen is a key of host.toml, and the embedded rendezvous's
// address is refused for it.
func TestMetricsListenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.toml")
	os.WriteFile(path, []byte("metrics-listen = \"127.0.0.1:9091\"\n"), 0o600)
	file, err := configfile.Read(path, NewCommand().Flags())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := file.Lookup("metrics-listen"); !ok || v[0] != "127.0.0.1:9091" {
		t.Fatalf("metrics-listen from the file: %v %v", v, ok)
	}
	_, err = New(Config{KeyPath: filepath.Join(t.TempDir(), "host.key"), Listen: "127.0.0.1:8080", MetricsListen: "127.0.0.1:8080"})
	if err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Fatalf("metrics on the embedded rendezvous's address: %v", err)
	}
}

// BenchmarkMeterForwarded is the cost the metrics add to a forward: one call per copied chunk
// (up to 64 KiB), from several goroutines at once as concurrent forwards make them.
func BenchmarkMeterForwarded(b *testing.B) {
	a := &Agent{sessions: map[*session.HostConn]SessionInfo{}}
	m := newHostMetrics(a)
	b.RunParallel(func(pb *testing.PB) {
		dir := false
		for pb.Next() {
			m.meter.Forwarded(dir, 64<<10)
			dir = !dir
		}
	})
}
