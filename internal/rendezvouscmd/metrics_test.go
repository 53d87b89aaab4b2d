package rendezvouscmd

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/turncred"
)

// TestMetricsListener runs the command's server with the built-in TURN relay and a metrics
// listener: the series are on the metrics listener only, and a real TURN allocation moves the
// relay's series.
func TestMetricsListener(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := slog.New(slog.DiscardHandler)
	f := defaults()
	f.turn, f.stunListen, f.turnListen, f.publicIP = true, "off", "127.0.0.1:0", "127.0.0.1"
	var ice *rendezvous.ICEConfig
	s, err := New(Config{StartICE: func(tc *tls.Config) (*rendezvous.ICEConfig, io.Closer, error) {
		var svc *iceService
		var err error
		ice, svc, err = f.start(log, tc, true)
		return ice, svc, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.ServeListeners(ctx, Listeners{Main: ln, Metrics: mln}) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	metricsURL := "http://" + mln.Addr().String() + "/metrics"

	m := promtest.Get(t, metricsURL)
	if got := m.Value(t, "deskport_rendezvous_turn_allocations_total"); got != 0 {
		t.Fatalf("allocations before any: %v", got)
	}
	if !m.Has("deskport_rendezvous_hosts_online") || !m.Has("process_resident_memory_bytes") {
		t.Fatal("the rendezvous or process series are missing")
	}
	// The public listener does not serve them.
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "deskport_rendezvous_") {
		t.Fatal("the public listener serves the metrics")
	}

	// One allocation through a real TURN client.
	user, pass := turncred.Mint(ice.Secret, "s1", time.Now(), time.Minute)
	relayAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ice.TURNPort))
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: relayAddr, TURNServerAddr: relayAddr, Username: user, Password: pass, Conn: pc, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	m = promtest.Get(t, metricsURL)
	if got := m.Value(t, "deskport_rendezvous_turn_allocations_total"); got != 1 {
		t.Fatalf("allocations_total = %v, want 1", got)
	}
	if got := m.Value(t, "deskport_rendezvous_turn_allocations"); got != 1 {
		t.Fatalf("allocations = %v, want 1", got)
	}
	m.Value(t, "deskport_rendezvous_turn_relayed_bytes_total", "direction", "to_peer")
	m.Value(t, "deskport_rendezvous_turn_refusals_total", "reason", "credentials")
}

// TestMetricsListenFlag: the flag is a key of the configuration file, and Run refuses to put
// the metrics on the public port.
func TestMetricsListenFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rendezvous.toml")
	os.WriteFile(path, []byte("metrics-listen = \"127.0.0.1:9090\"\n"), 0o600)
	cmd := NewCommand()
	file, err := configfile.Read(path, cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := file.Lookup("metrics-listen"); !ok || v[0] != "127.0.0.1:9090" {
		t.Fatalf("metrics-listen from the file: %v %v", v, ok)
	}
	// Checked before anything listens, so the port is never opened.
	s, err := New(Config{Listen: "127.0.0.1:18080", MetricsListen: "127.0.0.1:18080"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Fatalf("metrics on the public address: %v", err)
	}
}
