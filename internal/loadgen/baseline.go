package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Relay is the baseline for the rendezvous's figures: the least a Go WebSocket server can do
// in its place. GET /relay/P pairs the two connections that name the same P and copies
// each message of one to the other, as they come; GET /idle holds a connection and reads it.
// Like the rendezvous it pings every connection every PingInterval, and has one reader
// goroutine and one pinger per connection; it parses, checks, logs and limits nothing.
type Relay struct {
	// PingInterval is the time between pings; default 20 s, as the rendezvous's default.
	PingInterval time.Duration

	mu    sync.Mutex
	pairs map[string]*pairing
	wg    sync.WaitGroup
	conns atomic.Int64
}

type pairing struct {
	first  *websocket.Conn
	second chan *websocket.Conn
}

// Handler serves /relay and /idle.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /relay/{pair}", r.serveRelay)
	mux.HandleFunc("GET /idle", r.serveIdle)
	return mux
}

// Conns is the number of open connections.
func (r *Relay) Conns() int64 { return r.conns.Load() }

// Wait waits for the handlers of hijacked connections, which http.Server.Close does not
// track; close the server first (which closes nothing hijacked: the clients must go).
func (r *Relay) Wait() { r.wg.Wait() }

func (r *Relay) accept(w http.ResponseWriter, req *http.Request) (*websocket.Conn, func()) {
	r.wg.Add(1)
	ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		r.wg.Done()
		return nil, nil
	}
	ws.SetReadLimit(64 << 10)
	r.conns.Add(1)
	iv := r.PingInterval
	if iv <= 0 {
		iv = 20 * time.Second
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := ws.Ping(ctx)
			cancel()
			if err != nil {
				ws.CloseNow()
				return
			}
		}
	}()
	return ws, func() { close(stop); ws.CloseNow(); <-done; r.conns.Add(-1); r.wg.Done() }
}

func (r *Relay) serveIdle(w http.ResponseWriter, req *http.Request) {
	ws, done := r.accept(w, req)
	if ws == nil {
		return
	}
	defer done()
	for {
		if _, _, err := ws.Read(context.Background()); err != nil {
			return
		}
	}
}

func (r *Relay) serveRelay(w http.ResponseWriter, req *http.Request) {
	pair := req.PathValue("pair")
	ws, done := r.accept(w, req)
	if ws == nil {
		return
	}
	defer done()
	r.mu.Lock()
	if r.pairs == nil {
		r.pairs = map[string]*pairing{}
	}
	p, second := r.pairs[pair]
	if second {
		delete(r.pairs, pair)
	} else {
		p = &pairing{first: ws, second: make(chan *websocket.Conn, 1)}
		r.pairs[pair] = p
	}
	r.mu.Unlock()
	var peer *websocket.Conn
	if second {
		peer = p.first
		p.second <- ws
	} else {
		select {
		case peer = <-p.second:
		case <-time.After(30 * time.Second):
			r.mu.Lock()
			delete(r.pairs, pair)
			r.mu.Unlock()
			return
		}
	}
	for {
		typ, b, err := ws.Read(context.Background())
		if err != nil {
			peer.CloseNow()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = peer.Write(ctx, typ, b)
		cancel()
		if err != nil {
			return
		}
	}
}

// IdleConns holds plain WebSockets open to a Relay's /idle, each with a reader that answers
// the server's pings and a ping every 25 s of its own, as a host: the baseline of idle hosts.
type IdleConns struct {
	conns  []*websocket.Conn
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// DialIdle opens n connections to base's /idle, 64 at a time, connection i from source(i).
func DialIdle(ctx context.Context, base string, n int, source func(int) netip.Addr) (*IdleConns, error) {
	ic := &IdleConns{conns: make([]*websocket.Conn, n)}
	var d dialer
	sem := make(chan struct{}, 64)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var src netip.Addr
			if source != nil {
				src = source(i)
			}
			ws, _, err := d.dial(ctx, base, "/idle", src)
			if err != nil {
				errs <- err
				return
			}
			ic.conns[i] = ws
			ic.wg.Add(1)
			go func() {
				defer ic.wg.Done()
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	close(errs)
	pctx, cancel := context.WithCancel(context.Background())
	ic.cancel = cancel
	ic.wg.Add(1)
	go func() {
		defer ic.wg.Done()
		pingAll(pctx, n, 25*time.Second, func(i int) *websocket.Conn { return ic.conns[i] })
	}()
	if err := <-errs; err != nil {
		ic.Close()
		return nil, fmt.Errorf("loadgen: idle connections: %w", err)
	}
	return ic, nil
}

// Close closes the connections and waits for their readers.
func (ic *IdleConns) Close() {
	ic.cancel()
	for _, ws := range ic.conns {
		if ws != nil {
			ws.CloseNow()
		}
	}
	ic.wg.Wait()
}

// RunRelay is the baseline of Viewers.Run: cfg.Count pairs, cfg.Rate a second, through a
// Relay at base. Each pair is two new connections; one sends an offer-sized message and times
// the other's answer-sized reply. (cfg.Target is not used.)
func RunRelay(ctx context.Context, base string, cfg RunConfig, source func(int) netip.Addr) []Session {
	out := make([]Session, cfg.Count)
	var d dialer
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	offer, answer := fakeSDP("offer", strings.Repeat("0", 32)), fakeSDP("answer", strings.Repeat("0", 32))
	for j := range cfg.Count {
		if dl := time.Until(start.Add(time.Duration(j) * interval)); dl > 0 {
			t := time.NewTimer(dl)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if err := ctx.Err(); err != nil {
			out[j].Err = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[j] = relayOnce(ctx, &d, base, j, offer, answer, source)
		}()
	}
	wg.Wait()
	return out
}

func relayOnce(ctx context.Context, d *dialer, base string, j int, offer, answer string, source func(int) netip.Addr) Session {
	var res Session
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var srcA, srcB netip.Addr
	if source != nil {
		srcA, srcB = source(2*j), source(2*j+1)
	}
	path := fmt.Sprintf("/relay/%d", j)
	start := time.Now()
	a, _, err := d.dial(ctx, base, path, srcA)
	if err != nil {
		res.Err = err
		return res
	}
	defer a.CloseNow()
	res.Connect = time.Since(start)
	b, _, err := d.dial(ctx, base, path, srcB)
	if err != nil {
		res.Err = err
		return res
	}
	defer b.CloseNow()
	echoed := make(chan error, 1)
	go func() {
		_, _, err := b.Read(ctx)
		if err == nil {
			err = b.Write(ctx, websocket.MessageText, []byte(answer))
		}
		echoed <- err
	}()
	sent := time.Now()
	if err := a.Write(ctx, websocket.MessageText, []byte(offer)); err != nil {
		res.Err = err
		return res
	}
	if _, _, err := a.Read(ctx); err != nil {
		res.Err = err
		return res
	}
	res.OfferAnswer = time.Since(sent)
	res.Err = <-echoed
	return res
}
