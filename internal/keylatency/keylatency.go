// Package keylatency measures how long a key press takes from the viewer's send to the host's
// injection, through real WebRTC sessions on loopback, idle and while a port forward runs flat out
// in the same direction. It is the figure that decides the data-channel layout
// (docs/architecture.md: input travels apart from bulk traffic) and feeds `make bench`.
package keylatency

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"

	"github.com/pion/transport/v5"
)

// warmBytes is how much the saturating forward moves before key presses are timed: as much as
// the channel's send limit lets it queue at most (16 MiB), so every buffer on the way is full.
// On a long path slow start takes a while to move it, hence the generous bound on the wait.
const (
	warmBytes = 16 << 20
	warmLimit = 20 * time.Second
)

// Result is one measurement.
type Result struct {
	Samples         []time.Duration
	Median, P99     time.Duration
	BulkBytes       int64   // moved by the saturating forward meanwhile
	BulkMBps        float64 // its rate
	SaturatingBytes bool
}

type chanSignaler struct {
	out chan<- *signaling.Message
	in  <-chan *signaling.Message
}

func (s chanSignaler) Send(ctx context.Context, m *signaling.Message) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s chanSignaler) Recv() <-chan *signaling.Message { return s.in }

// recorder is an Injector that notes when each key-down arrives.
type recorder struct{ downs chan time.Time }

func (r recorder) Inject(e input.Event) error {
	if e.Type == input.TypeKey && e.Down {
		select {
		case r.downs <- time.Now():
		default:
		}
	}
	return nil
}

func (r recorder) Close() error { return nil }

// Config says what to measure. The zero Nets mean the real network, limited to loopback.
type Config struct {
	Presses  int           // key presses timed
	Interval time.Duration // between presses
	Saturate bool          // the viewer uploads through a forward as fast as it can meanwhile
	// HostNet and ViewerNet are each end's network (pion vnet for a simulated path, or a
	// network namespace's); both nil means both ends on loopback.
	HostNet, ViewerNet transport.Net
}

// Measure sends n key presses, one every interval, over loopback and returns the
// send→injection latencies. With saturate, the viewer uploads through a forward as fast as it
// can meanwhile.
func Measure(ctx context.Context, n int, interval time.Duration, saturate bool) (*Result, error) {
	return MeasureOn(ctx, Config{Presses: n, Interval: interval, Saturate: saturate})
}

// MeasureOn is Measure on the networks of cfg.
func MeasureOn(ctx context.Context, cfg Config) (*Result, error) {
	n, interval, saturate := cfg.Presses, cfg.Interval, cfg.Saturate
	if n <= 0 {
		return nil, errors.New("keylatency: Presses must be positive")
	}
	loopback := cfg.HostNet == nil && cfg.ViewerNet == nil
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	_, viewerKey, _ := ed25519.GenerateKey(rand.Reader)
	hostID := identity.HostID(hostKey.Public().(ed25519.PublicKey))
	ab, ba := make(chan *signaling.Message, 256), make(chan *signaling.Message, 256)
	vs, hs := chanSignaler{out: ab, in: ba}, chanSignaler{out: ba, in: ab}

	// A sink the forward uploads into.
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()

	var host *session.HostConn
	var herr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		host, herr = session.Accept(ctx, hs, hostID, session.Config{LoopbackOnly: loopback, Net: cfg.HostNet}, auth.HostConfig{
			Key:        hostKey,
			Authorized: func(ed25519.PublicKey) (auth.Options, bool) { return auth.Options{}, true },
		})
	}()
	viewer, verr := session.Dial(ctx, vs, hostID, session.Config{LoopbackOnly: loopback, Net: cfg.ViewerNet, NoDirectTCP: true}, auth.ViewerConfig{Key: viewerKey})
	wg.Wait()
	if err := errors.Join(verr, herr); err != nil {
		return nil, err
	}
	defer viewer.Close()
	defer host.Close()

	rec := recorder{downs: make(chan time.Time, n+1)}
	isrv, err := input.NewServer(input.Config{Injector: rec, Rect: func() (int, int, int, int) { return 0, 0, 1280, 720 },
		MaxEventsPerSecond: 100000, Burst: 100000})
	if err != nil {
		return nil, err
	}
	policy, err := forward.NewPolicy([]string{sink.Addr().String()}, nil)
	if err != nil {
		return nil, err
	}
	var srvWG sync.WaitGroup
	srvWG.Add(2)
	go func() {
		defer srvWG.Done()
		d := mux.NewDispatcher(host.Interactive, mux.Config{Side: "host"})
		d.Handle(mux.KindInput, isrv.HandleStream)
		d.Serve(ctx)
	}()
	go func() {
		defer srvWG.Done()
		forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, host.Mux)
	}()
	defer func() { host.Close(); viewer.Close(); srvWG.Wait() }()

	res := &Result{SaturatingBytes: saturate}
	var bulkWG sync.WaitGroup
	var bulkStart time.Time
	var bulkBytes atomic.Int64
	if saturate {
		up, err := forward.NewClient(viewer.Mux, nil).Dial(ctx, sink.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("saturating forward: %w", err)
		}
		bulkStart = time.Now()
		bulkWG.Add(1)
		go func() {
			defer bulkWG.Done()
			buf := make([]byte, 64<<10)
			for ctx.Err() == nil {
				k, err := up.Write(buf)
				bulkBytes.Add(int64(k))
				if err != nil {
					return
				}
			}
		}()
		defer func() { up.Close(); bulkWG.Wait() }()
		// Measure only once the forward has filled the buffers on its way (bounded wait).
		for deadline := time.Now().Add(warmLimit); bulkBytes.Load() < warmBytes; {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the saturating forward moved only %d bytes in %v", bulkBytes.Load(), warmLimit)
			}
			time.Sleep(time.Millisecond)
		}
	}

	in, _, err := mux.Open(ctx, viewer.Interactive, mux.Request{Kind: mux.KindInput, Payload: input.AppendHello(nil, 1280, 720)})
	if err != nil {
		return nil, err
	}
	defer in.Close()
	keyA, _ := input.ParseCode("KeyA")
	down, _ := input.Encode(input.KeyEvent(keyA, true))
	up, _ := input.Encode(input.KeyEvent(keyA, false))
	for i := 0; i < n; i++ {
		sent := time.Now()
		if _, err := in.Write(down); err != nil {
			return nil, err
		}
		select {
		case at := <-rec.downs:
			res.Samples = append(res.Samples, at.Sub(sent))
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("key press %d was not injected within 10 s", i)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if _, err := in.Write(up); err != nil {
			return nil, err
		}
		time.Sleep(interval)
	}
	if saturate {
		res.BulkBytes = bulkBytes.Load()
		res.BulkMBps = float64(res.BulkBytes) / time.Since(bulkStart).Seconds() / 1e6
	}
	s := slices.Clone(res.Samples)
	slices.Sort(s)
	res.Median = s[len(s)/2]
	res.P99 = s[min(len(s)-1, len(s)*99/100)]
	return res, nil
}
