package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"
)

// memSignaler is one end of an in-memory signaling pair: the sections that run sessions in
// this process need no rendezvous.
type memSignaler struct {
	out chan<- *signaling.Message
	in  <-chan *signaling.Message
}

func (s memSignaler) Send(ctx context.Context, m *signaling.Message) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s memSignaler) Recv() <-chan *signaling.Message { return s.in }

// connectSessions runs session.Accept and session.Dial against each other in this process, with a
// trusted viewer key. viewerNet and hostNet nil mean the real network, limited to loopback.
func connectSessions(ctx context.Context, viewerNet, hostNet transport.Net) (viewer *session.ViewerConn, host *session.HostConn, err error) {
	return connectSessionsLogged(ctx, viewerNet, hostNet, nil, nil)
}

// connectSessionsLogged is connectSessions with a logger for each side (nil discards).
func connectSessionsLogged(ctx context.Context, viewerNet, hostNet transport.Net, viewerLog, hostLog *slog.Logger) (viewer *session.ViewerConn, host *session.HostConn, err error) {
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	_, viewerKey, _ := ed25519.GenerateKey(rand.Reader)
	hostID := identity.HostID(hostKey.Public().(ed25519.PublicKey))
	ab, ba := make(chan *signaling.Message, 256), make(chan *signaling.Message, 256)
	vs, hs := memSignaler{out: ab, in: ba}, memSignaler{out: ba, in: ab}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var herr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		host, herr = session.Accept(ctx, hs, hostID, session.Config{Net: hostNet, LoopbackOnly: hostNet == nil, Logger: hostLog}, auth.HostConfig{
			Key:        hostKey,
			Authorized: func(ed25519.PublicKey) (auth.Options, bool) { return auth.Options{}, true },
		})
	}()
	viewer, verr := session.Dial(ctx, vs, hostID, session.Config{Net: viewerNet, LoopbackOnly: viewerNet == nil, Logger: viewerLog, NoDirectTCP: true}, auth.ViewerConfig{Key: viewerKey})
	wg.Wait()
	if err := errors.Join(verr, herr); err != nil {
		if viewer != nil {
			viewer.Close()
		}
		if host != nil {
			host.Close()
		}
		return nil, nil, err
	}
	return viewer, host, nil
}

// longPath is one simulated path: pion's vnet with a one-way delay of RTT/2 and random loss.
type longPath struct {
	name string
	rtt  time.Duration
	loss float64
}

var longPaths = []longPath{
	{"vnet, 0 ms (loopback through vnet)", 0, 0},
	{"vnet, 50 ms RTT", 50 * time.Millisecond, 0},
	{"vnet, 150 ms RTT", 150 * time.Millisecond, 0},
	{"vnet, 150 ms RTT, 1% loss", 150 * time.Millisecond, 0.01},
}

const stackDeskport = "deskport forward"

// stackPion is the bare pion data channel, pion as released.
var stackPion = barePion

// pathRow is one figure of the longpath section.
type pathRow struct {
	Path     string  `json:"path"`
	RTTms    float64 `json:"rtt_ms"`
	LossPct  float64 `json:"loss_pct"`
	Stack    string  `json:"stack"`
	MBps     float64 `json:"mb_per_s"`
	MiBMoved float64 `json:"mib_moved"` // in the median run
	Complete bool    `json:"complete"`  // every run moved everything within the time limit
	// VsLoopback is MB/s over the same stack's MB/s on the 0 ms vnet path of this run.
	VsLoopback float64 `json:"ratio_vs_vnet_loopback,omitempty"`
	// VsPion is deskport's MB/s over the bare pion data channel's on the same path.
	VsPion float64   `json:"ratio_vs_bare_pion,omitempty"`
	Runs   []float64 `json:"runs_mb_per_s"`
	// HalfMBps is the median rate over the second half of the bytes (after slow start), and
	// HalfVsLoopback its ratio to the same stack's on the 0 ms path; 0 when not measured.
	HalfMBps       float64   `json:"second_half_mb_per_s,omitempty"`
	HalfVsLoopback float64   `json:"second_half_ratio_vs_vnet_loopback,omitempty"`
	HalfRuns       []float64 `json:"second_half_runs_mb_per_s,omitempty"`
	Note           string    `json:"note,omitempty"`
	// CPUsPerGiB is the median CPU time of the whole process (both ends and vnet) per GiB
	// received, over CPURuns.
	CPUsPerGiB float64   `json:"cpu_s_per_gib,omitempty"`
	CPURuns    []float64 `json:"cpu_s_per_gib_runs,omitempty"`
}

// transfer is what one run moved: bytes, and the receiver's first and last byte.
type transfer struct {
	bytes       int64
	first, last time.Time
	// half is a byte count (zero: not asked for) and mid when the receiver reached it, for the
	// rate of the second half alone, after slow start.
	half int64
	mid  time.Time
}

func (t *transfer) add(n int) {
	now := time.Now()
	if t.bytes == 0 && n > 0 {
		t.first = now
	}
	t.bytes += int64(n)
	t.last = now
	if t.half > 0 && t.mid.IsZero() && t.bytes >= t.half {
		t.mid = now
	}
}

// secondHalf is the rate from the receiver reaching half to the last byte (0 if unknown).
func (t *transfer) secondHalf() float64 {
	if t.mid.IsZero() || !t.last.After(t.mid) {
		return 0
	}
	return float64(t.bytes-t.half) / t.last.Sub(t.mid).Seconds() / 1e6
}

// mbps is the rate from the first to the last byte received (the fixed delay before the first
// byte is not throughput).
func (t *transfer) mbps() float64 {
	d := t.last.Sub(t.first).Seconds()
	if t.bytes == 0 || d <= 0 {
		return 0
	}
	return float64(t.bytes) / d / 1e6
}

// newPathNets builds a vnet router with the path's delay and loss (a seeded RNG, so every run
// drops the same sequence of packets it is offered) and two nets on it. tr, if not nil, counts
// what the router delivers.
func newPathNets(p longPath, seed uint64, tr *pathTrace) (a, b *vnet.Net, stop func(), err error) {
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.98.0.0/24", MinDelay: p.rtt / 2, QueueSize: 100000,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return nil, nil, nil, err
	}
	if p.loss > 0 {
		var mu sync.Mutex
		rng := mrand.New(mrand.NewPCG(seed, 11))
		router.AddChunkFilter(func(vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64() >= p.loss
		})
	}
	if tr != nil {
		router.AddChunkFilter(tr.filter)
	}
	for i, ip := range []string{"10.98.0.2", "10.98.0.3"} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err == nil {
			err = router.AddNet(n)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if i == 0 {
			a = n
		} else {
			b = n
		}
	}
	if err := router.Start(); err != nil {
		return nil, nil, nil, err
	}
	return a, b, func() { router.Stop() }, nil
}

// forwardOverPath moves total bytes host → viewer through one forward of a real session over
// the path (the target is a real loopback TCP source on the host side), for at most limit.
// tr, if not nil, traces the run (see pathTrace).
func forwardOverPath(ctx context.Context, p longPath, seed uint64, src *source, total int64, limit time.Duration, tr *pathTrace) (transfer, error) {
	t := transfer{half: total / 2}
	vn, hn, stopNet, err := newPathNets(p, seed, tr)
	if err != nil {
		return t, err
	}
	defer stopNet()
	var viewer *session.ViewerConn
	var host *session.HostConn
	if tr != nil {
		viewer, host, err = connectSessionsLogged(ctx, tr.net(vn, "10.98.0.2"), tr.net(hn, "10.98.0.3"), tr.logger("viewer"), tr.logger("host"))
	} else {
		viewer, host, err = connectSessions(ctx, vn, hn)
	}
	if err != nil {
		return t, fmt.Errorf("connect: %w", err)
	}
	policy, err := forward.NewPolicy([]string{src.Addr()}, nil)
	if err != nil {
		return t, err
	}
	sctx, cancel := context.WithCancel(ctx)
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(sctx, host.Mux)
	}()
	defer func() { cancel(); viewer.Close(); host.Close(); <-srvDone }()

	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := forward.NewClient(viewer.Mux, nil).Dial(dctx, src.Addr())
	dcancel()
	if err != nil {
		return t, fmt.Errorf("open the forward: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := fmt.Fprintf(c, "%-16d", total); err != nil {
		return t, err
	}
	buf := make([]byte, 64<<10)
	var received atomic.Int64 // t.bytes, for the tracer
	if tr != nil {
		stopTrace, traced := make(chan struct{}), make(chan struct{})
		go tr.sample(host, received.Load, stopTrace, traced)
		defer func() { close(stopTrace); <-traced }()
	}
	for t.bytes < total {
		n, err := c.Read(buf)
		t.add(n)
		received.Store(t.bytes)
		if err != nil {
			var ne net.Error // yamux's deadline error is not os.ErrDeadlineExceeded
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				return t, nil // the time limit: report what moved
			}
			if err == io.EOF && t.bytes < total {
				err = fmt.Errorf("the forward ended after %d of %d bytes", t.bytes, total)
			}
			if err != io.EOF {
				return t, err
			}
			break
		}
	}
	return t, ctx.Err()
}

// runLongPath measures one forward over each simulated path, and the bare pion data channel
// over the same paths, as ratios to the 0 ms path of the same run.
func runLongPath(ctx context.Context, cfg config) ([]pathRow, error) {
	src, err := newSource()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	total := cfg.lpMiB << 20
	var rows []pathRow
	paths := longPaths
	if len(cfg.lpRTTs) > 0 {
		paths = nil
		for _, rtt := range cfg.lpRTTs {
			paths = append(paths, longPath{fmt.Sprintf("vnet, %d ms RTT", rtt.Milliseconds()), rtt, 0})
		}
	}
	for pi, p := range paths {
		fmt.Fprintf(os.Stderr, "%s\n", p.name)
		stacks := []string{stackDeskport, stackPion}
		if cfg.lpNoPion {
			stacks = stacks[:1]
		}
		// The stacks take turns, round by round, so that a change in the machine's load (other
		// processes on a shared machine) falls on both alike rather than on whichever ran last.
		prow := make([]pathRow, len(stacks))
		moved := make([]map[float64]int64, len(stacks))
		for si, stack := range stacks {
			prow[si] = pathRow{Path: p.name, RTTms: float64(p.rtt.Milliseconds()), LossPct: p.loss * 100, Stack: stack, Complete: true}
			moved[si] = map[float64]int64{}
		}
		for i := 0; i < cfg.lpRounds; i++ {
			for si, stack := range stacks {
				r, moved := &prow[si], moved[si]
				seed := uint64(1000*pi + i + 1)
				var t transfer
				var err error
				// The stack labels the run's goroutines (pion's and vnet's start inside it), so a
				// -cpuprofile splits by stack: go tool pprof -tagfocus stack=deskport.
				label := "pion"
				if stack == stackDeskport {
					label = "deskport"
				}
				pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("stack", label)))
				cpu0 := cpuTime()
				if stack == stackDeskport {
					var tr *pathTrace
					if cfg.lpTrace > 0 {
						tr = newPathTrace(cfg.lpTrace)
					}
					t, err = forwardOverPath(ctx, p, seed, src, total, cfg.lpLimit, tr)
				} else {
					t, err = pionOverPath(ctx, p, seed, total, cfg.lpLimit)
				}
				cpu := cpuTime() - cpu0
				pprof.SetGoroutineLabels(ctx)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil {
					// A run that breaks down (a session that gives up on a lossy path) is a
					// result too: report what moved and why it stopped.
					r.Note = err.Error()
					fmt.Fprintf(os.Stderr, "  %-36s run %d: %v\n", stack, i+1, err)
				}
				if t.bytes < total {
					r.Complete = false
				}
				r.Runs = append(r.Runs, t.mbps())
				moved[t.mbps()] = t.bytes
				fmt.Fprintf(os.Stderr, "  %-36s %8.2f MB/s, %6.1f MiB moved", stack, t.mbps(), float64(t.bytes)/(1<<20))
				if t.bytes > 0 {
					// Both ends and the simulated network, in this process: the CPU of one
					// transfer, which a loaded machine disturbs less than its rate.
					g := cpu.Seconds() / (float64(t.bytes) / (1 << 30))
					fmt.Fprintf(os.Stderr, ", %.1f CPU s/GiB", g)
					r.CPURuns = append(r.CPURuns, g)
				}
				if h := t.secondHalf(); h > 0 {
					fmt.Fprintf(os.Stderr, ", second half %.2f MB/s", h)
					r.HalfRuns = append(r.HalfRuns, h)
				}
				fmt.Fprintln(os.Stderr)
			}
		}
		for si := range stacks {
			r := &prow[si]
			r.MBps = median(r.Runs)
			if len(r.CPURuns) > 0 {
				r.CPUsPerGiB = median(r.CPURuns)
			}
			if len(r.HalfRuns) == len(r.Runs) {
				r.HalfMBps = median(r.HalfRuns)
			}
			r.MiBMoved = float64(moved[si][r.MBps]) / (1 << 20)
			rows = append(rows, *r)
		}
	}
	for i := range rows {
		r := &rows[i]
		for _, b := range rows {
			if b.Stack == r.Stack && b.RTTms == 0 && b.LossPct == 0 && b.MBps > 0 {
				r.VsLoopback = r.MBps / b.MBps
				if r.HalfMBps > 0 && b.HalfMBps > 0 {
					r.HalfVsLoopback = r.HalfMBps / b.HalfMBps
				}
			}
			if r.Stack == stackDeskport && b.Stack == stackPion && b.Path == r.Path && b.MBps > 0 {
				r.VsPion = r.MBps / b.MBps
			}
		}
	}
	return rows, nil
}
