package rendezvous

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deskport/deskport/signaling"
)

// The rendezvous's Prometheus series (docs/metrics.md lists them with their meaning). Every
// label takes its values from a fixed set named here: no host ID, session ID or address ever
// becomes a label, so the number of series does not grow with the number of clients.

// Reasons a session fails (deskport_rendezvous_sessions_failed_total{reason}). The first five,
// and FailUnavailable, refuse a connect before a session exists; the others end a session that
// was started but never answered.
const (
	FailHostOffline           = "host_offline"
	FailUnknownHost           = "unknown_host"
	FailSessionsPerConnection = "sessions_per_connection"
	FailPendingPerAddress     = "pending_per_address"
	FailPendingPerHost        = "pending_per_host"
	FailExpired               = "expired"
	FailEvicted               = "evicted"
	FailHostBye               = "host_bye"
	FailViewerBye             = "viewer_bye"
	FailHostGone              = "host_gone"
	FailViewerGone            = "viewer_gone"
	FailShutdown              = "shutdown"
	// FailUnavailable: with --redis, the viewer's instance could not reach the host's (Redis
	// down, or the host's instance did not answer the open request in time).
	FailUnavailable = "unavailable"
)

// Limits that refuse something (deskport_rendezvous_rejections_total{limit}).
const (
	LimitConnsPerAddress       = "conns_per_address"
	LimitAllowedOrigins        = "allowed_origins"
	LimitMessageBytes          = "message_bytes"
	LimitMessageRate           = "message_rate"
	LimitMessageRateClose      = "message_rate_close"
	LimitHandshakeTimeout      = "handshake_timeout"
	LimitSessionsPerConnection = "sessions_per_connection"
	LimitPendingPerAddress     = "pending_per_address"
	LimitPendingPerHost        = "pending_per_host"
	LimitPendingEvicted        = "pending_evicted"
)

// Operations of the Redis round-trip series (Metrics.RedisRoundTrip); any other name is
// counted as RedisOpOther, so that a label never takes an unbounded set of values. Only
// operations the Redis backend performs are listed: a series that can never move would tell
// an operator nothing.
const (
	RedisOpPresence = "presence" // claim, renew or release hosts' presence keys, with "last seen" (one pipeline)
	RedisOpLookup   = "lookup"   // find the instance that holds a host
	RedisOpPublish  = "publish"  // route signaling messages to another instance (one pipeline)
	RedisOpOther    = "other"
)

var redisOps = []string{RedisOpPresence, RedisOpLookup, RedisOpPublish, RedisOpOther}

// messageTypes are the values of deskport_rendezvous_messages_total{type}.
var messageTypes = []string{"connect", "offer", "answer", "candidate", "bye", "invalid", "other"}

// latencyBuckets suit a relay whose goal is p99 under 50 ms (issue 13) while seeing the hosts
// that take seconds to build a peer connection.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics are the series of one Server, on a registry of its own (not Prometheus's global one),
// so that several servers in one process (tests, a host's embedded rendezvous) keep apart.
// The Server updates them itself; the exported methods are hooks for code outside the core
// registry (the Redis backend) to report what it does.
type Metrics struct {
	reg *prometheus.Registry

	viewers       prometheus.Gauge
	registrations *prometheus.CounterVec
	started       prometheus.Counter
	completed     prometheus.Counter
	failed        *prometheus.CounterVec
	latency       prometheus.Histogram
	messages      *prometheus.CounterVec
	rejections    *prometheus.CounterVec

	redisRoundTrips *prometheus.CounterVec
	redisErrors     *prometheus.CounterVec
	redisLatency    *prometheus.HistogramVec
	redisUp         prometheus.Gauge

	// The labelled counters resolved once, so that a hook is one map read and one atomic add;
	// the maps are read-only after newMetrics.
	byType, byLimit, byReason, byResult map[string]prometheus.Counter
}

// resolve returns the counters of vec for each value.
func resolve(vec *prometheus.CounterVec, values ...string) map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(values))
	for _, v := range values {
		m[v] = vec.WithLabelValues(v)
	}
	return m
}

func newMetrics(s *Server) *Metrics {
	const ns, sub = "deskport", "rendezvous"
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.viewers = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "viewers_connected",
		Help: "Viewer WebSocket connections open now."})
	m.registrations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "host_registrations_total",
		Help: "Host registration attempts by result: registered, replaced (registered, closing an older connection of the same key; with several instances counted by the one that closes it), bad_signature, bad_message, timeout."}, []string{"result"})
	m.started = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_started_total",
		Help: "Sessions created for a viewer's connect request."})
	m.completed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_completed_total",
		Help: "Sessions whose host answered the viewer's offer: signaling done, the peers take over."})
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_failed_total",
		Help: "Connect requests refused, and started sessions that ended without the host's answer, by reason."}, []string{"reason"})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "offer_answer_seconds",
		Help: "Time from the viewer's first offer reaching the rendezvous to the host's answer reaching it (the host's set-up time included).", Buckets: latencyBuckets})
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_total",
		Help: "Signaling messages received from registered hosts and viewers, by type (invalid: did not decode; other: a type not accepted there)."}, []string{"type"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejections_total",
		Help: "Connections, messages and sessions refused or cut by a limit, by the limit's name."}, []string{"limit"})
	m.redisRoundTrips = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "redis_round_trips_total",
		Help: "Redis commands sent, by operation."}, []string{"op"})
	m.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "redis_errors_total",
		Help: "Redis commands that failed, by operation."}, []string{"op"})
	m.redisLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "redis_round_trip_seconds",
		Help: "Time of a Redis command, by operation.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"})
	m.redisUp = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "redis_up",
		Help: "1 while the Redis backend is reachable, 0 while it is not; absent without --redis."})

	hosts := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "hosts_online",
		Help: "Hosts registered with this instance now."}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.hosts))
	})
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "sessions_open",
		Help: "Sessions this instance routes now, answered or not."}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.sessions))
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		hosts, open, m.viewers, m.registrations, m.started, m.completed, m.failed, m.latency,
		m.messages, m.rejections,
	)
	// Every label value exists from the start at zero, so that a dashboard's rate() sees the
	// first event and an absent series never means "none yet".
	m.byResult = resolve(m.registrations, "registered", "replaced", "bad_signature", "bad_message", "timeout")
	m.byReason = resolve(m.failed, FailHostOffline, FailUnknownHost, FailSessionsPerConnection, FailPendingPerAddress, FailPendingPerHost,
		FailExpired, FailEvicted, FailHostBye, FailViewerBye, FailHostGone, FailViewerGone, FailShutdown, FailUnavailable)
	m.byType = resolve(m.messages, messageTypes...)
	m.byLimit = resolve(m.rejections, LimitConnsPerAddress, LimitAllowedOrigins, LimitMessageBytes, LimitMessageRate, LimitMessageRateClose,
		LimitHandshakeTimeout, LimitSessionsPerConnection, LimitPendingPerAddress, LimitPendingPerHost, LimitPendingEvicted)
	return m
}

// Registry is the registry of the server's series, with the Go runtime and process collectors.
// Register further collectors on it (the built-in TURN relay's) to serve them on the same
// endpoint.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// EnableRedis adds the Redis series to the registry; the Redis backend calls it once when it
// starts, so that a rendezvous without Redis exposes none of them.
func (m *Metrics) EnableRedis() {
	m.reg.MustRegister(m.redisRoundTrips, m.redisErrors, m.redisLatency, m.redisUp)
	for _, op := range redisOps {
		m.redisRoundTrips.WithLabelValues(op)
		m.redisErrors.WithLabelValues(op)
		m.redisLatency.WithLabelValues(op)
	}
}

// RedisRoundTrip records one Redis command of operation op (one of the RedisOp constants),
// how long it took and whether it failed. It is safe for concurrent use and cheap enough for
// every command.
func (m *Metrics) RedisRoundTrip(op string, d time.Duration, err error) {
	known := false
	for _, o := range redisOps {
		if o == op {
			known = true
			break
		}
	}
	if !known {
		op = RedisOpOther
	}
	m.redisRoundTrips.WithLabelValues(op).Inc()
	m.redisLatency.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.redisErrors.WithLabelValues(op).Inc()
	}
}

// SetRedisUp records whether Redis is reachable now.
func (m *Metrics) SetRedisUp(up bool) {
	if up {
		m.redisUp.Set(1)
	} else {
		m.redisUp.Set(0)
	}
}

// The hooks the Server calls. Each is one atomic update or a map lookup of a fixed label.

// The label values come from the constants above; a value outside them (a bug) is dropped
// rather than allowed to create a series.
func (m *Metrics) reject(limit string)         { inc(m.byLimit, limit) }
func (m *Metrics) registration(r string)       { inc(m.byResult, r) }
func (m *Metrics) sessionStarted()             { m.started.Inc() }
func (m *Metrics) sessionFailed(reason string) { inc(m.byReason, reason) }

func inc(cs map[string]prometheus.Counter, v string) {
	if c := cs[v]; c != nil {
		c.Inc()
	}
}

// sessionAnswered counts a completed session and observes its offer→answer time (none when
// the host answered before any offer reached it, which route refuses anyway).
func (m *Metrics) sessionAnswered(offered, now time.Time) {
	m.completed.Inc()
	if !offered.IsZero() {
		m.latency.Observe(now.Sub(offered).Seconds())
	}
}

func (m *Metrics) message(typ string) {
	c := m.byType[typ]
	if c == nil {
		c = m.byType["other"]
	}
	c.Inc()
}

// countsHere reports whether this instance counts sess's outcome (completed or failed, and its
// offer→answer time): the instance holding the host's socket does, where the session was
// started (openLocked). A session crossing instances lives on both, and counting it on the
// viewer's instance too would count it twice in any sum over instances.
func countsHere(sess *pairing) bool { return sess.host.relay == nil }

// failBye is the failure reason of a pending session that the other instance ended with a bye
// of this code (the viewer's instance: its viewer left, it timed out, or it shut down).
func failBye(code string) string {
	switch code {
	case signaling.ByeExpired:
		return FailExpired
	case signaling.ByeShutdown:
		return FailShutdown
	default:
		return FailViewerGone
	}
}

// failReason is the failure reason of a pending session whose end c left.
func failGone(c *conn, closed bool) string {
	switch {
	case closed:
		return FailShutdown
	case c.role == roleHost:
		return FailHostGone
	default:
		return FailViewerGone
	}
}
