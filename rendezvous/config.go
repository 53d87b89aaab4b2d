package rendezvous

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deskport/deskport/signaling"
)

// ICEServer is one STUN or TURN server handed to hosts and viewers. It is the wire type, so a
// list from Config goes out unchanged.
type ICEServer = signaling.ICEServer

// Defaults for the zero values of Config.
const (
	DefaultMaxMessageBytes          = signaling.MaxMessageBytes
	DefaultMaxConnsPerIP            = 32
	DefaultMaxPendingPerHost        = 8
	DefaultMaxSessionsPerViewerConn = 4
	DefaultHandshakeTimeout         = 10 * time.Second
	DefaultReadTimeout              = 30 * time.Second
	DefaultWriteTimeout             = 10 * time.Second
	DefaultPingInterval             = 20 * time.Second
	DefaultPendingTimeout           = 30 * time.Second
	DefaultMessageRate              = 50
	DefaultMessageBurst             = 200
	DefaultMaxKnownHosts            = 100_000
)

// Config configures a Server. The zero value is usable: every zero field takes its default.
type Config struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// ICEServers are handed to both ends of every session (registered, session and offer).
	ICEServers []ICEServer
	// ICE, when set, adds the built-in STUN/TURN servers (named by the address each client
	// reached the rendezvous at) and TURN servers with per-session credentials.
	ICE *ICEConfig

	// MaxMessageBytes bounds one WebSocket message; larger ones close the connection with
	// status 1009. It cannot exceed signaling.MaxMessageBytes. Default 64 KiB.
	MaxMessageBytes int64
	// MaxConnsPerIP bounds the WebSocket connections (hosts and viewers together) from one
	// client address; more are refused with HTTP 429. Default 32.
	MaxConnsPerIP int
	// MaxPendingPerHost bounds the sessions of one host that wait for its answer. Default 8.
	MaxPendingPerHost int
	// MaxSessionsPerViewerConn bounds the open sessions of one viewer connection. Default 4.
	MaxSessionsPerViewerConn int

	// HandshakeTimeout bounds the time between a host's WebSocket upgrade and a valid register
	// message. Default 10s.
	HandshakeTimeout time.Duration
	// ReadTimeout is how long the server waits for the pong to each ping before it drops the
	// connection as dead. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds every write to a connection. Default 10s.
	WriteTimeout time.Duration
	// PingInterval is the time between pings on every connection. Default 20s. A connection
	// whose peer pinged within 1.5 intervals (a host agent pings every 25 s) is not pinged.
	PingInterval time.Duration
	// PendingTimeout is how long a session may wait for the host's answer. Default 30s.
	PendingTimeout time.Duration

	// MessageRate (messages per second) and MessageBurst bound what one connection may send.
	// Messages beyond are dropped with a rate_limited error; repeated abuse closes the
	// connection. Defaults 50/s, burst 200.
	MessageRate  float64
	MessageBurst int

	// MaxKnownHosts bounds the "last seen" table that tells an offline host from an unknown
	// one; the least recently seen entries are evicted. Default 100,000.
	MaxKnownHosts int

	// AllowedOrigins lists the exact Origin values ("https://example.com") a browser may open
	// a WebSocket from. Requests without an Origin header (native clients) and requests whose
	// Origin host equals the request's Host are always allowed.
	AllowedOrigins []string
	// TrustProxyHeaders takes the client address from the last X-Forwarded-For entry (as
	// appended by a trusted reverse proxy) instead of the TCP peer. Only enable it behind a
	// proxy that sets the header; otherwise clients choose their own address and evade the
	// per-IP cap.
	TrustProxyHeaders bool
	// PublicHosts lists the names (host or host:port) that hosts use to reach this server:
	// a registration proof must sign one of them, and the challenge announces them so that a
	// host that dialled another name refuses to register. A name without a port accepts any
	// port. Set it on any server reachable from the internet: empty means the request's Host
	// header, which whoever connects chooses, so that a rendezvous relaying a host's
	// registration (with its own name in Host) gets it accepted here (docs/signaling.md).
	PublicHosts []string

	// Web, when set, is served at / (the browser viewer).
	Web http.Handler

	// Redis, when set (redis://[user:password@]host:port[/db], rediss:// for TLS), joins this
	// server to the other instances that use the same Redis: they share host presence and the
	// "last seen" table and route sessions to whichever instance holds the host's socket, so a
	// viewer may reach a host through any of them (docs/cluster.md). Empty means one instance
	// with everything in memory.
	Redis string
	// OnRedis, when set, is called after every round trip to Redis with its operation (one of
	// four fixed names: "claim" for hosts arriving and leaving, "refresh" for the periodic
	// renewal, "locate" for a viewer's lookup, "publish" for messages to other instances), its
	// duration and its error; for metrics. It is called from several goroutines and must not
	// block.
	OnRedis func(op string, d time.Duration, err error)

	clusterTest *clusterTestHooks // tests only
}

// validNonce is a well-formed nonce, for checking names through the wire format's rules.
var validNonce = strings.Repeat("A", 43) + "="

// Validate refuses negative limits and malformed lists.
func (c Config) Validate() error {
	var errs []error
	if c.MaxMessageBytes < 0 || c.MaxMessageBytes > signaling.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("MaxMessageBytes %d is outside 0..%d", c.MaxMessageBytes, signaling.MaxMessageBytes))
	}
	if c.MaxMessageBytes > 0 && c.MaxMessageBytes < 4096 {
		errs = append(errs, fmt.Errorf("MaxMessageBytes %d is below 4096, too small for an SDP", c.MaxMessageBytes))
	}
	for name, v := range map[string]int{
		"MaxConnsPerIP": c.MaxConnsPerIP, "MaxPendingPerHost": c.MaxPendingPerHost,
		"MaxSessionsPerViewerConn": c.MaxSessionsPerViewerConn, "MessageBurst": c.MessageBurst,
		"MaxKnownHosts": c.MaxKnownHosts,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%d)", name, v))
		}
	}
	for name, d := range map[string]time.Duration{
		"HandshakeTimeout": c.HandshakeTimeout, "ReadTimeout": c.ReadTimeout, "WriteTimeout": c.WriteTimeout,
		"PingInterval": c.PingInterval, "PendingTimeout": c.PendingTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", name, d))
		}
	}
	if c.MessageRate < 0 {
		errs = append(errs, fmt.Errorf("MessageRate is negative (%v)", c.MessageRate))
	}
	if len(c.ICEServers) > 0 {
		if err := (&signaling.Message{Type: signaling.TypeRegistered, HostID: "aaaaaaaaaaaaaaaaaaaaaaaa", ICEServers: c.ICEServers}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ICEServers: %w", err))
		}
	}
	if c.ICE != nil {
		if err := c.ICE.validate(len(c.ICEServers)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("AllowedOrigins: %q is not an origin like https://example.com", o))
		}
	}
	for _, h := range c.PublicHosts {
		if u, err := url.Parse("http://" + h); err != nil || u.Host != h || (&signaling.Message{Type: signaling.TypeChallenge, Nonce: validNonce, Names: []string{signaling.CanonicalHost(h)}}).Validate() != nil {
			errs = append(errs, fmt.Errorf("PublicHosts: %q is not a host or host:port (IDNs in their xn-- form)", h))
		}
	}
	if c.Redis != "" {
		if _, err := redis.ParseURL(c.Redis); err != nil {
			errs = append(errs, fmt.Errorf("--redis (Config.Redis) %q is not a Redis URL like redis://127.0.0.1:6379/0 (%v)", redactURL(c.Redis), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rendezvous: invalid config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	defInt(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	defInt(&c.MaxPendingPerHost, DefaultMaxPendingPerHost)
	defInt(&c.MaxSessionsPerViewerConn, DefaultMaxSessionsPerViewerConn)
	defInt(&c.MessageBurst, DefaultMessageBurst)
	defInt(&c.MaxKnownHosts, DefaultMaxKnownHosts)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PendingTimeout, DefaultPendingTimeout)
	if c.MessageRate == 0 {
		c.MessageRate = DefaultMessageRate
	}
	return c
}
