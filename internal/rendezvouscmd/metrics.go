package rendezvouscmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deskport/deskport/relay"
)

// relayCollector exports the built-in TURN relay's totals, read at scrape time from the
// relay's own per-allocation counters (relay.Server.Stats), so relayed packets pay nothing.
type relayCollector struct {
	stats func() relay.Stats

	allocs, allocsTotal, bytes, dropped, refused *prometheus.Desc
}

func newRelayCollector(stats func() relay.Stats) *relayCollector {
	name := func(n string) string { return prometheus.BuildFQName("deskport", "rendezvous", n) }
	return &relayCollector{
		stats:       stats,
		allocs:      prometheus.NewDesc(name("turn_allocations"), "TURN relay allocations open now.", nil, nil),
		allocsTotal: prometheus.NewDesc(name("turn_allocations_total"), "TURN relay allocations made.", nil, nil),
		bytes: prometheus.NewDesc(name("turn_relayed_bytes_total"),
			"Payload bytes the TURN relay moved, by direction: to_peer (out of a relay socket) or from_peer (into one).", []string{"direction"}, nil),
		dropped: prometheus.NewDesc(name("turn_dropped_packets_total"),
			"Packets a relay socket dropped: to or from an address the relay may not reach, or over a session's bandwidth.", nil, nil),
		refused: prometheus.NewDesc(name("turn_refusals_total"),
			"TURN requests refused, by reason: credentials (bad or expired), quota (allocations per session), peer (a non-public peer address).", []string{"reason"}, nil),
	}
}

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.allocs, c.allocsTotal, c.bytes, c.dropped, c.refused} {
		ch <- d
	}
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(c.allocs, prometheus.GaugeValue, float64(st.Allocations))
	ch <- prometheus.MustNewConstMetric(c.allocsTotal, prometheus.CounterValue, float64(st.AllocationsTotal))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesToPeers), "to_peer")
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesFromPeers), "from_peer")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.DroppedPackets))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.RefusedCredentials), "credentials")
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.RefusedQuota), "quota")
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.RefusedPeers), "peer")
}

// serveMetrics serves GET /metrics (and nothing else) on ln until ctx is done. The listener
// is the operator's --metrics-listen, apart from the public one: the series describe the
// service's load, which is nobody else's business.
func (s *Server) serveMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.srv.Metrics().Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	s.log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}
