package attack

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/signaling"
)

// startRendezvous serves a real rendezvous on loopback until the test ends.
func startRendezvous(t testing.TB, cfg rendezvous.Config, wrap func(http.Handler) http.Handler) (*rendezvous.Server, string) {
	t.Helper()
	s, err := rendezvous.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	if wrap == nil {
		go func() { errc <- s.Serve(ctx, ln) }()
	} else {
		srv := &http.Server{Handler: wrap(s.Handler())}
		go func() { srv.Serve(ln); errc <- nil }()
		t.Cleanup(func() { s.Close(); srv.Close() })
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("rendezvous Serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

// runHost keeps a real HostClient registered; its sessions arrive on the returned channel, and
// whoever takes one closes it. (Holding each accept call until the test ends would keep a
// goroutine per session, and the goroutine baseline checks would count them as leaks.)
func runHost(t testing.TB, url string, key keyPair) <-chan *rendezvous.Session {
	t.Helper()
	ch := make(chan *rendezvous.Session, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h := &rendezvous.HostClient{URL: url, Key: key.priv, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	go func() {
		defer close(done)
		h.Run(ctx, func(s *rendezvous.Session) {
			select {
			case ch <- s:
			default:
				s.Close()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for {
			select {
			case s := <-ch:
				s.Close()
			default:
				return
			}
		}
	})
	return ch
}

// garbage makes one hostile signaling message. kind names the family for the tally.
func garbage(r *rand.Rand, realHost string) (kind string, typ websocket.MessageType, b []byte) {
	sid := func() string {
		var x [16]byte
		for i := range x {
			x[i] = byte(r.UintN(256))
		}
		return hex.EncodeToString(x[:])
	}
	valid := func() []byte {
		var m map[string]any
		switch r.IntN(6) {
		case 0:
			m = map[string]any{"type": "offer", "session": sid(), "sdp": strings.Repeat("v=0\r\n", 1+r.IntN(200))}
		case 1:
			m = map[string]any{"type": "answer", "session": sid(), "sdp": "v=0"}
		case 2:
			m = map[string]any{"type": "candidate", "session": sid(), "candidate": map[string]any{"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0"}}
		case 3:
			m = map[string]any{"type": "bye", "session": sid(), "reason": "x"}
		case 4:
			// A host ID that is well formed but not registered (never the real one here; the
			// pending-session exhaustion is TestPendingSessionExhaustion).
			id := []byte(strings.Repeat("a", 24))
			for i := range id {
				id[i] = "abcdefghijklmnopqrstuvwxyz234567"[r.IntN(32)]
			}
			if string(id) == realHost {
				id[0] = 'a' + (id[0]-'a'+1)%26
			}
			m = map[string]any{"type": "connect", "hostId": string(id), "version": "evil/1"}
		default:
			m = map[string]any{"type": "register", "publicKey": "AAAA", "signature": "AAAA", "version": "x"}
		}
		b, _ := json.Marshal(m)
		return b
	}
	switch n := r.IntN(1000); {
	case n < 2: // oversized: over the 64 KiB limit → close 1009
		return "oversized", websocket.MessageText, []byte(`{"type":"offer","sdp":"` + strings.Repeat("A", 70<<10) + `"}`)
	case n < 4: // binary → close 1003
		return "binary", websocket.MessageBinary, []byte{0, 1, 2, 3}
	case n < 150: // random bytes, mostly invalid UTF-8
		b := make([]byte, 1+r.IntN(512))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return "random", websocket.MessageText, b
	case n < 350: // truncated valid messages
		v := valid()
		return "truncated", websocket.MessageText, v[:r.IntN(len(v))]
	case n < 600: // malformed: wrong types, unknown or duplicate keys, nulls, deep nesting, huge numbers
		forms := []string{
			`{"type":"offer","session":1,"sdp":"x"}`,
			`{"type":"offer","session":"` + sid() + `","sdp":"x","evil":true}`,
			`{"type":"bye","type":"connect","session":"` + sid() + `"}`,
			`{"type":null}`,
			`{"TYPE":"connect","hostId":"x","version":"1"}`,
			strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
			`{"type":"candidate","session":"` + sid() + `","candidate":{"sdpMLineIndex":1e400}}`,
			`{"type":"connect","hostId":"` + strings.Repeat("\u0000", 24) + `","version":"1"}`,
			`{"type":"offer","session":"` + sid() + `","sdp":"\u0001\u0002"}`,
			`{"type":"error","code":"internal","message":"spoofed"}`,
			`{"type":"offer","session":"` + sid() + `","sdp":"x","viewerAddr":"1.2.3.4:5"}`,
			`{"type":"bye","session":"` + sid() + `","code":"shutdown"}`,
			`{} {}`, `"just a string"`, `12345`, ``,
			`{"type":"offer","session":"` + sid() + `","sdp":"` + strings.Repeat("\\ud800", 500) + `"}`,
		}
		return "malformed", websocket.MessageText, []byte(forms[r.IntN(len(forms))])
	default: // well formed but hostile: unknown sessions, unknown hosts, wrong role
		return "wellformed", websocket.MessageText, valid()
	}
}

// TestSignalingBarrage sends 100,000 hostile messages from 50 WebSocket connections (reconnected
// whenever the server closes them, bounded) to a real rendezvous with its default limits, except
// MaxConnsPerIP raised to 64: every client here shares 127.0.0.1, and the point is to load the
// message handling, not to be refused at the door. During the barrage a real host stays
// registered and real viewers connect to it and exchange an offer and an answer.
func TestSignalingBarrage(t *testing.T) {
	total := 100_000
	if testing.Short() {
		total = 10_000
	}
	const workers, hostWorkers = 50, 10
	hostKey := newKey(t)
	baseHeap := heapAfterGC()
	_, url := startRendezvous(t, rendezvous.Config{MaxConnsPerIP: 64}, nil)
	sessions := runHost(t, url, hostKey)
	wsBase := "ws" + strings.TrimPrefix(url, "http")

	// The legitimate viewer connects from 127.0.0.2, as a real one would from an address of
	// its own: on 127.0.0.1 it would compete with the barrage for the per-IP connection cap,
	// and its refusals would measure the test's layout rather than the server.
	legitClient := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	defer legitClient.CloseIdleConnections()
	// Wait for the host to register (a viewer connect succeeds).
	exchange := func(ctx context.Context) error {
		vs, err := rendezvous.Dial(ctx, url, hostKey.id, &rendezvous.DialOptions{HTTPClient: legitClient})
		if err != nil {
			return err
		}
		defer vs.Close()
		if err := vs.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 legit offer"}); err != nil {
			return err
		}
		// The host's side of this session, by its ID: a session of an earlier exchange that
		// gave up waiting for it may still arrive first, and taking that one instead would put
		// every later exchange one session behind.
		var hs *rendezvous.Session
		for hs == nil {
			select {
			case s := <-sessions:
				if s.ID() == vs.ID() {
					hs = s
				} else {
					s.Close()
				}
			case <-ctx.Done():
				return errors.New("the host never got the session")
			}
		}
		defer hs.Close()
		select {
		case m := <-hs.Recv():
			if m == nil || m.Type != signaling.TypeOffer || m.SDP != "v=0 legit offer" {
				return fmt.Errorf("host got %+v", m)
			}
		case <-ctx.Done():
			return errors.New("no offer at the host")
		}
		if err := hs.Send(ctx, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0 legit answer"}); err != nil {
			return err
		}
		select {
		case m := <-vs.Recv():
			if m == nil || m.Type != signaling.TypeAnswer {
				return fmt.Errorf("viewer got %+v", m)
			}
		case <-ctx.Done():
			return errors.New("no answer at the viewer")
		}
		return nil
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := exchange(ctx)
		cancel()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("the legitimate exchange never worked before the barrage: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	baseGoroutines := runtime.NumGoroutine()

	var sent, answered, conns, refusedUpgrade atomic.Int64
	var tallyMu sync.Mutex
	tally := map[string]int{}
	closes := map[string]int{}
	stop := make(chan struct{})
	var peakHeap atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			path := "/v1/viewer"
			if w < hostWorkers {
				path = "/v1/host"
			}
			for attempt := 0; attempt < 2000 && answered.Load() < int64(total); attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, resp, err := websocket.Dial(ctx, wsBase+path, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
				if err != nil {
					cancel()
					if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
						refusedUpgrade.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					t.Errorf("worker %d: dial: %v", w, err)
					return
				}
				conns.Add(1)
				c.SetReadLimit(1 << 20)
				// Read (and discard) the server's answers, so its send queue drains, until it
				// closes the connection; remember how.
				readDone := make(chan error, 1)
				// At most 32 messages in flight: the count is of messages the server read and
				// answered, not of bytes parked in socket buffers.
				tokens := make(chan struct{}, 32)
				go func() {
					for {
						if _, _, err := c.Read(ctx); err != nil {
							readDone <- err
							return
						}
						answered.Add(1)
						select {
						case <-tokens:
						default:
						}
					}
				}()
				var rerr error
				gotClose := false
				for !gotClose && answered.Load() < int64(total) {
					select {
					case tokens <- struct{}{}:
					case rerr = <-readDone:
						gotClose = true
						continue
					}
					kind, typ, b := garbage(r, hostKey.id)
					if err := c.Write(ctx, typ, b); err != nil {
						break
					}
					sent.Add(1)
					tallyMu.Lock()
					tally[kind]++
					tallyMu.Unlock()
				}
				if !gotClose {
					select {
					case rerr = <-readDone:
					case <-time.After(time.Second):
						// The budget ran out on a connection the server had no reason to close.
					}
				}
				_ = c.CloseNow()
				if rerr == nil {
					rerr = <-readDone
					rerr = fmt.Errorf("closed by the client: %w", rerr)
				}
				reason := "client"
				if code := websocket.CloseStatus(rerr); code != -1 {
					reason = code.String()
				} else if !strings.HasPrefix(rerr.Error(), "closed by the client") {
					reason = "reset"
				}
				tallyMu.Lock()
				closes[reason]++
				tallyMu.Unlock()
				cancel()
			}
		}()
	}
	// Sample the heap, and keep exchanging offers and answers legitimately, during the barrage.
	var legitOK, legitFail atomic.Int64
	var lw sync.WaitGroup
	lw.Add(2)
	go func() {
		defer lw.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(m.HeapAlloc)
			}
		}
	}()
	go func() {
		defer lw.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := exchange(ctx); err != nil {
				legitFail.Add(1)
				t.Logf("legitimate exchange during the barrage: %v", err)
			} else {
				legitOK.Add(1)
			}
			cancel()
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	lw.Wait()
	endHeap := heapAfterGC()

	t.Logf("%d messages written, %d read and answered by the server, on %d connections (%d upgrades refused with 429) in %v (%.0f msg/s); kinds %v; server closes %v",
		sent.Load(), answered.Load(), conns.Load(), refusedUpgrade.Load(), elapsed.Round(time.Millisecond), float64(answered.Load())/elapsed.Seconds(), tally, closes)
	t.Logf("legitimate offer/answer exchanges during the barrage: %d ok, %d failed", legitOK.Load(), legitFail.Load())
	t.Logf("heap (whole process, clients included): before %.1f MiB, peak %.1f MiB, after (GC) %.1f MiB", mib(baseHeap), mib(peakHeap.Load()), mib(endHeap))
	if answered.Load() < int64(total) {
		t.Errorf("only %d of %d messages answered", answered.Load(), total)
	}
	if !legitShareOK(legitOK.Load(), legitFail.Load()) {
		t.Errorf("legitimate exchanges during the barrage: %d ok, %d failed; want at least 90%% ok", legitOK.Load(), legitFail.Load())
	}
	if peakHeap.Load() > 256<<20 {
		t.Errorf("peak heap %.1f MiB over the 256 MiB bound", mib(peakHeap.Load()))
	}
	if endHeap > baseHeap+16<<20 {
		t.Errorf("heap after the barrage %.1f MiB, more than 16 MiB above %.1f MiB", mib(endHeap), mib(baseHeap))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exchange(ctx); err != nil {
		t.Errorf("legitimate exchange after the barrage: %v", err)
	}
	// Every connection the barrage opened is gone: the server keeps no goroutine for it.
	if g := waitGoroutines(baseGoroutines+2, 20*time.Second); g > baseGoroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines did not return to the baseline %d after the barrage: %d\n%s", baseGoroutines, g, buf[:runtime.Stack(buf, true)])
	} else {
		t.Logf("goroutines: baseline %d, after the barrage %d", baseGoroutines, g)
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz after the barrage: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}
