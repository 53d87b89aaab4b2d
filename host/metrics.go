package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/session"
)

// Reasons a viewer is refused (deskport_host_refusals_total{reason}).
const (
	RefusedDraining     = "draining"     // the host is shutting down
	RefusedBusy         = "busy"         // too many sessions authenticating (session.Gate)
	RefusedNoPath       = "no_path"      // ICE found no network path
	RefusedTimeout      = "timeout"      // set-up or authentication took too long
	RefusedUnauthorized = "unauthorized" // a viewer key not in authorized_viewers
	RefusedBadCode      = "bad_code"     // a wrong, expired or absent one-time code
	RefusedConsent      = "consent"      // the owner refused a code viewer, or it left before the answer
	RefusedOther        = "other"        // any other failure before the session started
)

var refusalReasons = []string{RefusedDraining, RefusedBusy, RefusedNoPath, RefusedTimeout, RefusedUnauthorized, RefusedBadCode, RefusedConsent, RefusedOther}

// rttBuckets span a LAN to a satellite link.
var rttBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5}

// encodeBuckets span a small damaged area (well under a millisecond) to a 4K keyframe.
var encodeBuckets = []float64{.0005, .001, .0025, .005, .01, .015, .025, .033, .05, .1, .25}

// hostMetrics are the agent's Prometheus series, on a registry of the agent's own. Every label
// takes its values from a fixed set: no viewer, session or address becomes a label. The hot
// paths (the forward copy loop, the encoder loop) only add to counters.
type hostMetrics struct {
	reg *prometheus.Registry

	sessions       *prometheus.CounterVec
	refusals       *prometheus.CounterVec
	streamRefusals prometheus.Counter
	fromViewer     prometheus.Counter
	toViewer       prometheus.Counter
	streams        prometheus.Gauge
	frames         prometheus.Counter
	keyframes      prometheus.Counter
	videoBytes     prometheus.Counter
	encode         prometheus.Histogram
	rtt            prometheus.Histogram

	// meter counts forwarded bytes; streamCount the open streams of every session's
	// dispatchers (mux.Config.Streams).
	meter       *forward.Meter
	streamCount func(delta int)
}

func newHostMetrics(a *Agent) *hostMetrics {
	const ns, sub = "deskport", "host"
	m := &hostMetrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_total",
		Help: "Viewer sessions that authenticated, by method: key (authorized_viewers) or code (one-time code)."}, []string{"method"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refusals_total",
		Help: "Viewers refused before their session started, by reason."}, []string{"reason"})
	m.streamRefusals = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stream_refusals_total",
		Help: "Stream opens refused inside authenticated sessions: a forward or listener the policy does not allow, a capability not granted, the open rate or the stream cap."})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "forwarded_bytes_total",
		Help: "Bytes port forwards moved, by direction: from_viewer (toward the target) or to_viewer."}, []string{"direction"})
	m.fromViewer, m.toViewer = bytes.WithLabelValues("from_viewer"), bytes.WithLabelValues("to_viewer")
	m.streams = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "streams_open",
		Help: "Streams open now over all sessions: forwards, reverse forwards, input, clipboard, files, control."})
	m.frames = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "video_frames_total",
		Help: "Video frames encoded and sent, all sessions together; its rate is the frame rate."})
	m.keyframes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "video_keyframes_total",
		Help: "Keyframes among the video frames."})
	m.videoBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "video_bytes_total",
		Help: "Encoded video bytes sent; 8 times its rate is the bitrate."})
	m.encode = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "video_encode_seconds",
		Help: "Time the encoder took per sent frame.", Buckets: encodeBuckets})
	m.rtt = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "session_rtt_seconds",
		Help: "Smoothed round-trip time of each open session's SCTP association, sampled at every scrape.", Buckets: rttBuckets})
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "sessions_open",
		Help: "Authenticated viewer sessions open now."}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.sessions))
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.sessions, m.refusals, m.streamRefusals, bytes, m.streams, open,
		m.frames, m.keyframes, m.videoBytes, m.encode,
		&rttSampler{a: a, h: m.rtt},
	)
	for _, method := range []string{auth.MethodKey, auth.MethodCode} {
		m.sessions.WithLabelValues(method)
	}
	for _, r := range refusalReasons {
		m.refusals.WithLabelValues(r)
	}
	m.meter = &forward.Meter{
		Forwarded: func(fromViewer bool, n int) {
			if fromViewer {
				m.fromViewer.Add(float64(n))
			} else {
				m.toViewer.Add(float64(n))
			}
		},
	}
	m.streamCount = func(delta int) { m.streams.Add(float64(delta)) }
	return m
}

// rttSampler observes each open session's smoothed RTT into the histogram when scraped, so
// that measuring costs the sessions nothing between scrapes.
type rttSampler struct {
	a *Agent
	h prometheus.Histogram
}

func (r *rttSampler) Describe(ch chan<- *prometheus.Desc) { r.h.Describe(ch) }

func (r *rttSampler) Collect(ch chan<- prometheus.Metric) {
	r.a.mu.Lock()
	conns := make([]*session.HostConn, 0, len(r.a.sessions))
	for c := range r.a.sessions {
		conns = append(conns, c)
	}
	r.a.mu.Unlock()
	for _, c := range conns {
		if srtt := c.TransportStats().SCTP.SmoothedRoundTripTime; srtt > 0 {
			r.h.Observe(srtt)
		}
	}
	r.h.Collect(ch)
}

// refused counts a viewer refused before its session started, by the error that refused it.
func (m *hostMetrics) refused(err error) {
	reason := RefusedOther
	switch {
	case errors.Is(err, session.ErrConnectionFailed):
		reason = RefusedNoPath
	case errors.Is(err, session.ErrTooManyPending):
		reason = RefusedBusy
	case errors.Is(err, session.ErrHandshakeTimeout):
		reason = RefusedTimeout
	case errors.Is(err, auth.ErrUnauthorized):
		reason = RefusedUnauthorized
	case errors.Is(err, auth.ErrBadCode), errors.Is(err, auth.ErrCodeExpired), errors.Is(err, auth.ErrNoCode):
		reason = RefusedBadCode
	}
	m.refusals.WithLabelValues(reason).Inc()
}

func (m *hostMetrics) refusedFor(reason string) { m.refusals.WithLabelValues(reason).Inc() }

func (m *hostMetrics) started(method string) {
	if method != auth.MethodKey && method != auth.MethodCode {
		return // the handshake knows no other; never let a label take a new value
	}
	m.sessions.WithLabelValues(method).Inc()
}

// frame is the video stream's OnFrame.
func (m *hostMetrics) frame(f screen.FrameStats) {
	m.frames.Inc()
	m.videoBytes.Add(float64(f.Bytes))
	m.encode.Observe(f.Encode.Seconds())
	if f.Keyframe {
		m.keyframes.Inc()
	}
}

// MetricsHandler serves the agent's Prometheus series (with the Go runtime and process ones).
// Run serves it on Config.MetricsListen; it is exported for embedding the agent.
func (a *Agent) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{Registry: a.metrics.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// listenMetrics opens Config.MetricsListen; nil when it is not set.
func (a *Agent) listenMetrics() (net.Listener, error) {
	if a.cfg.MetricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s for metrics: %w (choose another with --metrics-listen)", a.cfg.MetricsListen, err)
	}
	return ln, nil
}

// serveMetrics serves GET /metrics on ln until ctx is done.
func (a *Agent) serveMetrics(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	a.log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("metrics listener failed", "err", err)
	}
}
