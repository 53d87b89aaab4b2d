package loadgen

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/signaling"
)

// HostsConfig configures a fleet of simulated hosts.
type HostsConfig struct {
	// URLs are the rendezvous instances, http(s)://host:port. A host starts at First(i) and,
	// each time it loses its connection or fails to register, moves on to the next URL.
	URLs []string
	// Keys are the hosts' identity keys, one per host (see Keys).
	Keys []ed25519.PrivateKey
	// First is the index in URLs where host i registers first; nil means i mod len(URLs).
	First func(i int) int
	// Source is the local address host i connects from; nil or the zero Addr lets the system
	// choose.
	Source func(i int) netip.Addr
	// Dialers bounds the registrations in flight while the fleet starts. Default 64.
	Dialers int
	// PingInterval is the time between a host's pings, as the real agent's 25 s by default.
	PingInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, full jitter, doubling per failed
	// attempt, as the real agent. Defaults 0.5 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Fatal, when set, is asked about each error of a host's first registration; a non-nil
	// answer ends StartHosts at once with that error, instead of the hosts retrying until ctx
	// ends (a rendezvous that is not there, or that refuses every further connection, is not
	// worth minutes of retries in a command-line run).
	Fatal func(err error) error
	// OnRegistered, when set, is called from host i's goroutine each time it registers, with
	// the URL index and the time the registered message arrived.
	OnRegistered func(i, url int, at time.Time)
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Hosts is a running fleet of simulated hosts. Each holds one WebSocket to a rendezvous, answers
// every offer with an answer and one candidate, and reconnects when its connection is lost.
type Hosts struct {
	cfg    HostsConfig
	log    *slog.Logger
	d      dialer
	hosts  []*host
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	registered atomic.Int64  // hosts registered at least once
	first      chan struct{} // closed when every host has registered once
	answered   atomic.Int64
	reconnects atomic.Int64
	lastErr    atomic.Pointer[error]
	fatal      chan error // receives the first error Fatal turned fatal (capacity 1)
}

type host struct {
	i   int
	key ed25519.PrivateKey
	pub string // base64 public key
	id  string

	mu    sync.Mutex
	ws    *websocket.Conn // nil while disconnected
	url   int             // index of the URL it uses or last used
	regAt time.Time       // when it last registered
	reg   chan struct{}   // signalled (without blocking) at each registration
}

// StartHosts connects and registers every host, at most Dialers at a time, and returns once
// all of them have registered once. If ctx ends first it stops them and returns an error that
// says how many made it.
func StartHosts(ctx context.Context, cfg HostsConfig) (*Hosts, error) {
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("loadgen: no rendezvous URLs")
	}
	if cfg.Dialers <= 0 {
		cfg.Dialers = 64
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h := &Hosts{cfg: cfg, log: log, cancel: cancel, sem: make(chan struct{}, cfg.Dialers), first: make(chan struct{}), fatal: make(chan error, 1)}
	if len(cfg.Keys) == 0 {
		close(h.first)
	}
	for i, k := range cfg.Keys {
		pub := k.Public().(ed25519.PublicKey)
		first := i % len(cfg.URLs)
		if cfg.First != nil {
			first = cfg.First(i) % len(cfg.URLs)
		}
		h.hosts = append(h.hosts, &host{i: i, key: k, pub: base64.StdEncoding.EncodeToString(pub), id: identity.HostID(pub), url: first, reg: make(chan struct{}, 1)})
	}
	for _, hh := range h.hosts {
		h.wg.Add(1)
		go h.run(runCtx, hh)
	}
	h.wg.Add(1)
	go h.pinger(runCtx)
	select {
	case <-h.first:
		return h, nil
	case err := <-h.fatal:
		h.Close()
		return nil, err
	case <-ctx.Done():
		n := h.registered.Load()
		var last error
		if p := h.lastErr.Load(); p != nil {
			last = *p
		}
		h.Close()
		return nil, fmt.Errorf("%w: %d of %d hosts registered (last error: %v)", ErrTimeout, n, len(h.hosts), last)
	}
}

// Len is the number of hosts.
func (h *Hosts) Len() int { return len(h.hosts) }

// ID is host i's host ID.
func (h *Hosts) ID(i int) string { return h.hosts[i].id }

// URL is the index of the URL host i is registered at, or last tried.
func (h *Hosts) URL(i int) int {
	hh := h.hosts[i]
	hh.mu.Lock()
	defer hh.mu.Unlock()
	return hh.url
}

// Registered returns when host i last registered and at which URL; the zero time if never.
func (h *Hosts) Registered(i int) (time.Time, int) {
	hh := h.hosts[i]
	hh.mu.Lock()
	defer hh.mu.Unlock()
	return hh.regAt, hh.url
}

// WaitRegistered waits until host i has registered after t and returns the URL index, or
// returns ctx's error.
func (h *Hosts) WaitRegistered(ctx context.Context, i int, after time.Time) (int, error) {
	hh := h.hosts[i]
	for {
		at, u := h.Registered(i)
		if at.After(after) {
			return u, nil
		}
		select {
		case <-hh.reg:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Answered is the number of offers the hosts have answered.
func (h *Hosts) Answered() int64 { return h.answered.Load() }

// Reconnects is the number of times a host lost a registered connection.
func (h *Hosts) Reconnects() int64 { return h.reconnects.Load() }

// Close disconnects every host and waits for their goroutines.
func (h *Hosts) Close() {
	h.cancel()
	for _, hh := range h.hosts {
		hh.mu.Lock()
		if hh.ws != nil {
			hh.ws.CloseNow()
		}
		hh.mu.Unlock()
	}
	h.wg.Wait()
}

func (h *Hosts) run(ctx context.Context, hh *host) {
	defer h.wg.Done()
	ever := false
	attempt := 0
	for {
		if !ever {
			select {
			case h.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		hh.mu.Lock()
		u := hh.url
		hh.mu.Unlock()
		ws, err := h.register(ctx, hh, u)
		if !ever {
			<-h.sem
		}
		if err == nil {
			attempt = 0
			if !ever {
				ever = true
				if h.registered.Add(1) == int64(len(h.hosts)) {
					close(h.first)
				}
			}
			err = h.serve(ctx, hh, ws)
			if ctx.Err() == nil {
				h.reconnects.Add(1)
			}
		}
		if ctx.Err() != nil {
			return
		}
		h.lastErr.Store(&err)
		if !ever && h.cfg.Fatal != nil {
			if ferr := h.cfg.Fatal(err); ferr != nil {
				select {
				case h.fatal <- ferr:
				default:
				}
				return
			}
		}
		h.log.Debug("host connection ended", "host", hh.i, "url", h.cfg.URLs[u], "err", err)
		hh.mu.Lock()
		hh.url = (hh.url + 1) % len(h.cfg.URLs)
		hh.mu.Unlock()
		d := time.Duration(rand.Int64N(int64(min(h.cfg.MaxBackoff, h.cfg.MinBackoff<<min(attempt, 16))) + 1))
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// register dials URL u and registers hh: challenge, signed proof, registered.
func (h *Hosts) register(ctx context.Context, hh *host, u int) (*websocket.Conn, error) {
	var src netip.Addr
	if h.cfg.Source != nil {
		src = h.cfg.Source(hh.i)
	}
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, signHost, err := h.d.dial(hctx, h.cfg.URLs[u], "/v1/host", src)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) {
		ws.CloseNow()
		return nil, err
	}
	m, err := read(hctx, ws)
	if err != nil {
		return fail(err)
	}
	if m.Type != signaling.TypeChallenge {
		return fail(fmt.Errorf("loadgen: got %q, want a challenge", m.Type))
	}
	nonce, _ := base64.StdEncoding.DecodeString(m.Nonce)
	sig := ed25519.Sign(hh.key, signaling.RegisterProof(signHost, nonce))
	if err := write(hctx, ws, &signaling.Message{Type: signaling.TypeRegister, PublicKey: hh.pub, Signature: base64.StdEncoding.EncodeToString(sig), Version: Version}); err != nil {
		return fail(err)
	}
	if m, err = read(hctx, ws); err != nil {
		return fail(err)
	}
	if m.Type != signaling.TypeRegistered || m.HostID != hh.id {
		return fail(fmt.Errorf("loadgen: got %q for %q, want registered for %s", m.Type, m.HostID, hh.id))
	}
	at := time.Now()
	hh.mu.Lock()
	hh.ws, hh.regAt = ws, at
	hh.mu.Unlock()
	select {
	case hh.reg <- struct{}{}:
	default:
	}
	if f := h.cfg.OnRegistered; f != nil {
		f(hh.i, u, at)
	}
	return ws, nil
}

// serve answers offers until the connection ends.
func (h *Hosts) serve(ctx context.Context, hh *host, ws *websocket.Conn) error {
	defer func() {
		hh.mu.Lock()
		hh.ws = nil
		hh.mu.Unlock()
		ws.CloseNow()
	}()
	for {
		m, err := read(ctx, ws)
		if err != nil {
			return err
		}
		if m.Type != signaling.TypeOffer {
			continue // candidates, byes and session errors need nothing from a simulated host
		}
		if err := write(ctx, ws, &signaling.Message{Type: signaling.TypeAnswer, Session: m.Session, SDP: fakeSDP("answer", m.Session)}); err != nil {
			return err
		}
		if err := write(ctx, ws, &signaling.Message{Type: signaling.TypeCandidate, Session: m.Session, Candidate: fakeCandidate(1)}); err != nil {
			return err
		}
		h.answered.Add(1)
	}
}

// pinger pings every host once per PingInterval, spread evenly over the interval, as each real
// agent does on its own (the rendezvous pings them too; the hosts answer those while reading).
func (h *Hosts) pinger(ctx context.Context) {
	defer h.wg.Done()
	pingAll(ctx, len(h.hosts), h.cfg.PingInterval, func(i int) *websocket.Conn {
		hh := h.hosts[i]
		hh.mu.Lock()
		defer hh.mu.Unlock()
		return hh.ws
	})
}

// pingAll pings connection i (nil: skip it) of n once per interval, spread evenly over the
// interval, until ctx ends; it waits for the pings in flight before it returns.
func pingAll(ctx context.Context, n int, interval time.Duration, conn func(i int) *websocket.Conn) {
	if n == 0 {
		return
	}
	const tick = 100 * time.Millisecond
	per := max(1, int(int64(n)*int64(tick)/int64(interval)))
	t := time.NewTicker(tick)
	defer t.Stop()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range per {
			ws := conn(next)
			next = (next + 1) % n
			if ws == nil {
				continue
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				ws.Ping(pctx) // a lost pong shows up in the reader as well
			}()
		}
	}
}
