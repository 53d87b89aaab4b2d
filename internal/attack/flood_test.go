package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/session"
)

// hostServing is one real host session with a real forward.Server on it.
type hostServing struct {
	conn   *session.HostConn
	cancel context.CancelFunc
	done   chan error
}

// connectServed connects a real viewer to a real host that serves forwards to the given
// targets with the default stream cap.
func connectServed(t testing.TB, host keyPair, viewer keyPair, targets []string) (*session.ViewerConn, *hostServing) {
	t.Helper()
	vs, hs := signalPair()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := auth.HostConfig{Key: host.priv, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, viewer.pub)
	}}
	cfg := session.Config{LoopbackOnly: true}
	var hconn *session.HostConn
	var herr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hconn, herr = session.Accept(ctx, hs, host.id, cfg, hc) }()
	vconn, verr := session.Dial(ctx, vs, host.id, cfg, auth.ViewerConfig{Key: viewer.priv})
	wg.Wait()
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	policy, err := forward.NewPolicy(targets, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	hsv := &hostServing{conn: hconn, cancel: scancel, done: make(chan error, 1)}
	go func() { hsv.done <- forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(sctx, hconn.Mux) }()
	return vconn, hsv
}

func (h *hostServing) stop() {
	h.cancel()
	<-h.done
	h.conn.Close()
}

// echoOnce forwards through mux to an echo target and checks 1 KiB comes back.
func echoOnce(ctx context.Context, mux *yamux.Session, addr string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := forward.NewClient(mux, nil).Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("x"), 1024)
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitGoroutines waits up to timeout for the goroutine count to fall to at most want, polling
// (goroutines that are ending give no signal to wait on), and returns the last count.
func waitGoroutines(want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	g := runtime.NumGoroutine()
	for g > want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		g = runtime.NumGoroutine()
	}
	return g
}

// legitShareOK says whether at least 90% of the legitimate exchanges attempted during an attack
// succeeded, and at least one was attempted: an attack that starves legitimate users most of
// the time must fail the test even if one exchange slipped through.
func legitShareOK(ok, failed int64) bool {
	return ok > 0 && ok*10 >= (ok+failed)*9
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamFlood: an authenticated malicious viewer opens 10,000 yamux streams on its tunnel,
// each asking for a forward to a target that keeps connections open, and keeps every stream the
// host accepts. The host must serve at most DefaultMaxStreams of them, keep serving a second
// (legitimate) viewer during and after the flood, stay within a heap bound, and return to its
// goroutine baseline once the attacker leaves. Viewer and host share this process, so the heap
// and goroutine figures include the attacker's side too: they are upper bounds for the host.
func TestStreamFlood(t *testing.T) {
	total := 10_000
	if testing.Short() {
		total = 1_000
	}
	host, good, bad := newKey(t), newKey(t), newKey(t)
	hold, echo := newTarget(t, true), newTarget(t, false)
	targets := []string{hold.Addr(), echo.Addr()}

	legit, legitHost := connectServed(t, host, good, targets)
	defer func() { legitHost.stop(); legit.Close() }()
	if _, err := echoOnce(context.Background(), legit.Mux, echo.Addr()); err != nil {
		t.Fatalf("legitimate forward before the flood: %v", err)
	}
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapAfterGC()

	mal, malHost := connectServed(t, host, bad, targets)
	connHeap := heapAfterGC()

	// The legitimate viewer forwards every 100 ms during the flood.
	floodDone := make(chan struct{})
	var during []time.Duration
	var duringErr atomic.Int64
	var lw sync.WaitGroup
	lw.Add(1)
	go func() {
		defer lw.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-floodDone:
				return
			case <-tick.C:
				d, err := echoOnce(context.Background(), legit.Mux, echo.Addr())
				if err != nil {
					duringErr.Add(1)
					t.Logf("legitimate forward during the flood: %v", err)
					continue
				}
				during = append(during, d)
			}
		}
	}()
	var peakHeap atomic.Uint64
	lw.Add(1)
	go func() {
		defer lw.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-floodDone:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peakHeap.Load() {
					peakHeap.Store(m.HeapAlloc)
				}
			}
		}
	}()

	start := time.Now()
	var ok, busy, other, openErr atomic.Int64
	var heldMu sync.Mutex
	var held []*yamux.Stream
	next := atomic.Int64{}
	var fw sync.WaitGroup
	for range 64 {
		fw.Add(1)
		go func() {
			defer fw.Done()
			for next.Add(1) <= int64(total) {
				s, err := mal.Mux.OpenStream()
				if err != nil {
					openErr.Add(1)
					continue
				}
				s.SetDeadline(time.Now().Add(20 * time.Second))
				if err := mux.WriteRequest(s, mux.Request{Kind: mux.KindTCP, Addr: hold.Addr()}); err != nil {
					openErr.Add(1)
					s.Close()
					continue
				}
				r, err := mux.ReadReply(s)
				switch {
				case err != nil:
					openErr.Add(1)
					s.Close()
				case r.Status == mux.StatusOK:
					ok.Add(1)
					s.SetDeadline(time.Time{})
					heldMu.Lock()
					held = append(held, s)
					heldMu.Unlock()
				case r.Status == mux.StatusTooManyStreams:
					busy.Add(1)
					s.Close()
				default:
					other.Add(1)
					s.Close()
				}
			}
		}()
	}
	fw.Wait()
	floodTime := time.Since(start)
	afterFloodHeap := heapAfterGC()
	close(floodDone)
	lw.Wait()

	if _, err := echoOnce(context.Background(), legit.Mux, echo.Addr()); err != nil {
		t.Errorf("legitimate forward after the flood (attacker still connected): %v", err)
	}
	served := ok.Load()
	t.Logf("%d opens in %v: %d served, %d refused busy, %d other, %d failed; target saw %d connections",
		total, floodTime.Round(time.Millisecond), served, busy.Load(), other.Load(), openErr.Load(), hold.conns.Load())
	if served > mux.DefaultMaxStreams || hold.conns.Load() > mux.DefaultMaxStreams {
		t.Errorf("served %d streams (target %d connections), cap is %d", served, hold.conns.Load(), mux.DefaultMaxStreams)
	}
	if served == 0 || busy.Load() == 0 {
		t.Errorf("the flood did not reach the cap (served %d, busy %d)", served, busy.Load())
	}
	if !legitShareOK(int64(len(during)), duringErr.Load()) {
		t.Errorf("legitimate forwards during the flood: %d ok, %d failed; want at least 90%% ok", len(during), duringErr.Load())
	}
	var worst time.Duration
	for _, d := range during {
		worst = max(worst, d)
	}
	t.Logf("legitimate forwards during the flood: %d ok, %d failed, slowest %v", len(during), duringErr.Load(), worst.Round(time.Millisecond))
	growth := int64(afterFloodHeap) - int64(connHeap)
	t.Logf("heap (whole process, after GC): before attacker %.1f MiB, attacker connected %.1f MiB, after flood %.1f MiB (growth %.1f MiB), peak during flood %.1f MiB",
		mib(baseHeap), mib(connHeap), mib(afterFloodHeap), float64(growth)/(1<<20), mib(peakHeap.Load()))
	if growth > 32<<20 {
		t.Errorf("heap grew %.1f MiB during the flood, bound 32 MiB", float64(growth)/(1<<20))
	}
	if peakHeap.Load() > 128<<20 {
		t.Errorf("peak heap %.1f MiB during the flood, bound 128 MiB", mib(peakHeap.Load()))
	}

	// The attacker leaves without closing anything politely: its peer connection just goes.
	peakGoroutines := runtime.NumGoroutine()
	mal.Close()
	leave := time.Now()
	noticed := time.Duration(-1)
	select {
	case <-malHost.conn.Done():
		noticed = time.Since(leave)
	case <-time.After(30 * time.Second):
	}
	malHost.stop()
	g := waitGoroutines(baseGoroutines+2, 20*time.Second)
	t.Logf("goroutines: baseline %d, with %d held streams %d, %v after the attacker left %d; host noticed the departure on its own after %v",
		baseGoroutines, len(held), peakGoroutines, time.Since(leave).Round(time.Millisecond), g, noticed)
	if noticed < 0 {
		t.Error("the host did not notice within 30 s that the attacker's peer connection went away")
	}
	if g > baseGoroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines did not return to baseline %d: %d\n%s", baseGoroutines, g, buf[:runtime.Stack(buf, true)])
	}
	leftHeap := heapAfterGC()
	t.Logf("heap after the attacker left: %.1f MiB", mib(leftHeap))
	if leftHeap > baseHeap+8<<20 {
		t.Errorf("heap after the attacker left %.1f MiB, more than 8 MiB above the %.1f MiB before it came", mib(leftHeap), mib(baseHeap))
	}
	if _, err := echoOnce(context.Background(), legit.Mux, echo.Addr()); err != nil {
		t.Errorf("legitimate forward after the attacker left: %v", err)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
