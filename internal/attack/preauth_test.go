package attack

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/session"
)

// TestPreauthFlood is issue 16's item 1: 64 strangers from 8 addresses each complete ICE, DTLS
// and SCTP with a host running in a process of its own, never send hello, and write 16 MiB to
// the tunnel channel. The host's RSS must grow by less than 64 MiB, and a trusted viewer must
// connect and forward during the attack. It prints the host's RSS and goroutines.
func TestPreauthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("64 peer connections and up to 1 GiB of attack traffic")
	}
	const (
		attackers = 64
		addresses = 8
		perWrite  = 16 << 10
		flood     = 16 << 20
		bound     = 64 << 20
	)
	hostKey, good := newKey(t), newKey(t)
	echo := newTarget(t, false)
	h := startHostProc(t, hostKey, good, echo.Addr())
	baseG := h.goroutines() // also waits for the process to be up
	baseRSS := h.rss(t)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var peak atomic.Int64
	peak.Store(baseRSS)
	stopSample := make(chan struct{})
	var sw sync.WaitGroup
	sw.Add(1)
	go func() {
		defer sw.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-tick.C:
				if r := h.rss(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()

	var refused, handshakes, written atomic.Int64
	var peakG atomic.Int64
	ends := map[string]int{}
	var endsMu sync.Mutex
	var aw sync.WaitGroup
	for i := range attackers {
		aw.Add(1)
		go func() {
			defer aw.Done()
			sig, ended := h.session(fmt.Sprintf("203.0.113.%d:%d", 1+i%addresses, 40000+i))
			p := newRawPeer(t, sig, rawOptions{})
			defer p.Close()
			// The attacker gives up when the host does (a refusal at the gate or the auth
			// deadline), as a real one would notice its session die.
			actx, acancel := context.WithTimeout(ctx, 60*time.Second)
			defer acancel()
			hostEnd := make(chan string, 1)
			go func() {
				select {
				case e := <-ended:
					hostEnd <- e
				case <-ctx.Done():
					hostEnd <- "test timeout"
				}
				acancel()
			}()
			defer func() {
				e := <-hostEnd
				endsMu.Lock()
				ends[e]++
				endsMu.Unlock()
			}()
			if _, err := p.offer(actx); err != nil {
				refused.Add(1)
				return
			}
			ch, err := p.channel(actx, tunnelID)
			if err != nil {
				refused.Add(1)
				return
			}
			handshakes.Add(1)
			// pion queues detached writes without limit; keep 1 MiB in flight so that the
			// attacker sends only as fast as the host takes it.
			buf := make([]byte, perWrite)
			dc := p.dcs[tunnelID]
			for sent := 0; sent < flood && actx.Err() == nil; sent += perWrite {
				for dc.BufferedAmount() > 1<<20 && actx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				if _, err := ch.Write(buf); err != nil {
					break
				}
				written.Add(perWrite)
			}
			if g := int64(h.goroutines()); g > peakG.Load() {
				peakG.Store(g)
			}
		}()
	}

	// A trusted viewer connects and forwards while the attack runs, once it is under way.
	for handshakes.Load() < addresses && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	var legitErr error
	var legitTook time.Duration
	for attempt := 0; attempt < 5; attempt++ {
		start := time.Now()
		sig, _ := h.session("198.51.100.7:5000")
		vconn, err := session.Dial(ctx, sig, hostKey.id, session.Config{LoopbackOnly: true}, auth.ViewerConfig{Key: good.priv})
		if err != nil {
			legitErr = err
			continue
		}
		_, legitErr = echoOnce(ctx, vconn.Mux, echo.Addr())
		legitTook = time.Since(start)
		vconn.Close()
		if legitErr == nil {
			break
		}
	}
	duringRSS, duringG := h.rss(t), h.goroutines()
	aw.Wait()
	close(stopSample)
	sw.Wait()
	afterRSS, afterG := h.rss(t), h.goroutines()
	growth := peak.Load() - baseRSS
	t.Logf("%d attackers from %d addresses: %d completed ICE+DTLS+SCTP, %d did not; %.0f MiB written to the tunnel channel; the host ended them with %v",
		attackers, addresses, handshakes.Load(), refused.Load(), float64(written.Load())/(1<<20), ends)
	t.Logf("host RSS: base %.0f MiB, peak %.0f MiB (growth %.0f MiB), after the trusted viewer %.0f MiB, after the attack %.0f MiB",
		mib(uint64(baseRSS)), mib(uint64(peak.Load())), float64(growth)/(1<<20), mib(uint64(duringRSS)), mib(uint64(afterRSS)))
	t.Logf("host goroutines: base %d, after the trusted viewer %d, most seen by an attacker %d, after the attack %d; the trusted viewer connected and forwarded in %v (err %v)",
		baseG, duringG, peakG.Load(), afterG, legitTook.Round(time.Millisecond), legitErr)
	if legitErr != nil {
		t.Errorf("the trusted viewer could not connect and forward during the attack: %v", legitErr)
	}
	if growth >= bound {
		t.Errorf("the host's RSS grew %.0f MiB under the attack, bound %d MiB", float64(growth)/(1<<20), bound>>20)
	}
}
