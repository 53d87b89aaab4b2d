// Package loadgen drives one or more rendezvous instances the way many hosts and viewers would:
// real WebSockets, real ed25519 registration proofs, and viewer sessions that exchange an
// offer, an answer and ICE candidates through the rendezvous (the SDP is fake text: signaling
// figures need no ICE). deskport-bench's rendezvous section and the deskport-load command use
// it; docs/bench.md describes what they measure.
//
// A simulated host is lighter than the real agent (rendezvous.HostClient): one goroutine per
// host, a shared pinger, and a list of rendezvous URLs it walks through when it loses its
// connection, so that a generator can hold 10,000 hosts beside the rendezvous on one machine
// and measure fail-over between instances. It keeps the agent's timings: a ping every 25 s and a
// reconnect after a full-jitter backoff from 0.5 s, doubling per failed attempt.
package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/signaling"
)

// Version is what the simulated hosts and viewers report to the rendezvous.
const Version = "deskport-load/1"

// Keys returns n host keys derived from seed: each host has its own key, and deriving them
// from a seed (ed25519.NewKeyFromSeed, about 20 µs each) keeps 10,000 of them cheap and the
// host IDs the same from run to run.
func Keys(n int, seed uint64) []ed25519.PrivateKey {
	out := make([]ed25519.PrivateKey, n)
	var in [16]byte
	binary.BigEndian.PutUint64(in[:8], seed)
	for i := range out {
		binary.BigEndian.PutUint64(in[8:], uint64(i))
		s := sha256.Sum256(in[:])
		out[i] = ed25519.NewKeyFromSeed(s[:])
	}
	return out
}

// Spread hands out loopback source addresses, perAddr connections to each, so that a generator
// on the rendezvous's machine stays under its per-address caps (32 WebSockets per address by
// default) without weakening them: on Linux every address of 127.0.0.0/8 is the loopback
// interface's. Block picks the second octet (127.block.x.y), so that hosts and viewers use
// addresses of their own.
type Spread struct {
	Block   byte
	PerAddr int
}

// Addr is the source address of connection i.
func (s Spread) Addr(i int) netip.Addr {
	per := max(1, s.PerAddr)
	k := i / per
	// 250 addresses per /24 (x.y.z.1 to .250), 256 /24s per block: 64,000 addresses.
	return netip.AddrFrom4([4]byte{127, s.Block, byte(k / 250 % 256), byte(k%250 + 1)})
}

// dialer opens WebSockets from chosen source addresses, one http.Client per address.
type dialer struct {
	mu      sync.Mutex
	clients map[netip.Addr]*http.Client
}

func (d *dialer) client(src netip.Addr) *http.Client {
	if !src.IsValid() {
		return &http.Client{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clients == nil {
		d.clients = map[netip.Addr]*http.Client{}
	}
	c := d.clients[src]
	if c == nil {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
		c = &http.Client{Transport: &http.Transport{DialContext: nd.DialContext, DisableKeepAlives: true}}
		d.clients[src] = c
	}
	return c
}

// dial opens a WebSocket to base (http(s)://host[:port][/prefix]) + path and returns it with
// the host name a registration proof signs.
func (d *dialer) dial(ctx context.Context, base, path string, src netip.Addr) (*websocket.Conn, string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("loadgen: bad rendezvous URL %q: give http(s)://host:port", base)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, "", fmt.Errorf("loadgen: bad rendezvous URL %q: give http(s)://host:port", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: d.client(src), CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil {
			return nil, "", &StatusError{URL: u.String(), Status: resp.StatusCode, Err: err}
		}
		return nil, "", fmt.Errorf("%s: %w", u, err)
	}
	ws.SetReadLimit(signaling.MaxMessageBytes)
	return ws, u.Host, nil
}

func write(ctx context.Context, ws *websocket.Conn, m *signaling.Message) error {
	b, err := signaling.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

// StatusError is a WebSocket handshake the server answered with an HTTP status other than 101.
type StatusError struct {
	URL    string
	Status int
	Err    error
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: HTTP %d: %v", e.URL, e.Status, e.Err) }
func (e *StatusError) Unwrap() error { return e.Err }

// RefusedError is an error message from the rendezvous.
type RefusedError struct{ Code, Message string }

func (e *RefusedError) Error() string { return "rendezvous refused: " + e.Code + ": " + e.Message }

// read reads the next message; an error message becomes a *RefusedError unless it names a
// session (those are for the caller to handle).
func read(ctx context.Context, ws *websocket.Conn) (*signaling.Message, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	m, err := signaling.Decode(b)
	if err != nil {
		return nil, err
	}
	if m.Type == signaling.TypeError && m.Session == "" {
		return nil, &RefusedError{Code: m.Code, Message: m.Message}
	}
	return m, nil
}

// ErrTimeout is returned when a run did not finish in the time it was given.
var ErrTimeout = errors.New("loadgen: timed out")

// Percentile returns the p-th percentile (0..100) of v by nearest rank; 0 for no samples.
func Percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

var errBadSpread = errors.New("--spread-loopback: use on, off or auto")
