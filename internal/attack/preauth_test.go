package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/tunnel"
)

// rssBytes is this process's resident set size.
func rssBytes(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// TestPreauthFlood is issue 16's item 1: 64 strangers from 8 addresses each complete ICE, DTLS
// and SCTP with the host, never send hello and write 16 MiB to the tunnel channel. The RSS must
// stay bounded, and a trusted viewer must connect and forward during the attack. Attackers and host share this process, so the RSS and goroutine figures include the
// attackers' side too: they are upper bounds for the host's.
func TestPreauthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("64 peer connections and 1 GiB of attack traffic")
	}
	const (
		attackers = 64
		addresses = 8
		perWrite  = 16 << 10
		flood     = 16 << 20
	)
	host, good := newKey(t), newKey(t)
	echo := newTarget(t, false)
	gate := session.NewGate(0, 0)
	hc := auth.HostConfig{Key: host.priv, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, good.pub)
	}}
	hostCfg := func(source string) session.Config {
		return session.Config{LoopbackOnly: true, Gate: gate, Source: source}
	}
	debug.FreeOSMemory()
	baseRSS, baseG := rssBytes(t), runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var peak atomic.Int64
	peak.Store(baseRSS)
	stopSample := make(chan struct{})
	var sw sync.WaitGroup
	sw.Add(1)
	go func() {
		defer sw.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-tick.C:
				if r := rssBytes(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()

	var refused, handshakes, written atomic.Int64
	var aw sync.WaitGroup
	for i := range attackers {
		aw.Add(1)
		go func() {
			defer aw.Done()
			source := fmt.Sprintf("203.0.113.%d:%d", 1+i%addresses, 40000+i)
			vs, hs := signalPair()
			hostDone := make(chan error, 1)
			go func() {
				c, err := session.Accept(ctx, hs, host.id, hostCfg(source), hc)
				if err == nil {
					c.Close()
				}
				hostDone <- err
			}()
			p := newRawPeer(t, vs, rawOptions{})
			defer p.Close()
			// The attacker gives up when the host does (a refusal at the gate, or the auth
			// deadline), the way a real one would notice its session die.
			actx, acancel := context.WithTimeout(ctx, 40*time.Second)
			defer acancel()
			hostErr := make(chan error, 1)
			go func() { err := <-hostDone; acancel(); hostErr <- err }()
			if _, err := p.offer(actx); err != nil {
				refused.Add(1)
				<-hostErr
				return
			}
			ch, err := p.channel(actx, tunnelID)
			if err != nil {
				refused.Add(1)
				<-hostErr
				return
			}
			handshakes.Add(1)
			// pion queues detached writes without limit; keep 1 MiB in flight so that what
			// piles up is the host's (its receive window) and not this process's send queue.
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
			<-hostErr // the host drops the stranger at its auth deadline
		}()
	}

	// A trusted viewer connects and forwards while the attack runs: once the attack is under way.
	for handshakes.Load() < addresses && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	var legitErr error
	var legitTook time.Duration
	for attempt := 0; attempt < 10; attempt++ {
		start := time.Now()
		vs, hs := signalPair()
		var hconn *session.Conn
		var herr error
		var hw sync.WaitGroup
		hw.Add(1)
		go func() {
			defer hw.Done()
			hconn, herr = session.Accept(ctx, hs, host.id, hostCfg("198.51.100.7:5000"), hc)
		}()
		vconn, verr := session.Dial(ctx, vs, host.id, session.Config{LoopbackOnly: true}, auth.ViewerConfig{Key: good.priv})
		hw.Wait()
		if verr != nil || herr != nil {
			legitErr = fmt.Errorf("viewer %v, host %v", verr, herr)
			if vconn != nil {
				vconn.Close()
			}
			if hconn != nil {
				hconn.Close()
			}
			continue
		}
		policy, _ := tunnel.NewPolicy([]string{echo.Addr()}, nil)
		sctx, scancel := context.WithCancel(ctx)
		sdone := make(chan error, 1)
		go func() { sdone <- tunnel.NewServer(tunnel.ServerConfig{Policy: policy}).Serve(sctx, hconn.Mux) }()
		_, legitErr = echoOnce(ctx, vconn.Mux, echo.Addr())
		legitTook = time.Since(start)
		scancel()
		<-sdone
		vconn.Close()
		hconn.Close()
		if legitErr == nil {
			break
		}
	}
	duringRSS, duringG := rssBytes(t), runtime.NumGoroutine()
	aw.Wait()
	close(stopSample)
	sw.Wait()
	debug.FreeOSMemory()
	afterRSS, afterG := rssBytes(t), runtime.NumGoroutine()
	growth := peak.Load() - baseRSS
	t.Logf("%d attackers from %d addresses: %d completed ICE+DTLS+SCTP, %d refused at the gate or failed; %.0f MiB written to the tunnel channel",
		attackers, addresses, handshakes.Load(), refused.Load(), float64(written.Load())/(1<<20))
	t.Logf("RSS (whole process): base %.0f MiB, peak %.0f MiB (growth %.0f MiB), after the trusted viewer %.0f MiB, after the attack %.0f MiB",
		mib(uint64(baseRSS)), mib(uint64(peak.Load())), float64(growth)/(1<<20), mib(uint64(duringRSS)), mib(uint64(afterRSS)))
	t.Logf("goroutines: base %d, during the attack %d, after %d; trusted viewer connected and forwarded in %v (err %v)",
		baseG, duringG, afterG, legitTook.Round(time.Millisecond), legitErr)
	if legitErr != nil {
		t.Errorf("the trusted viewer could not connect and forward during the attack: %v", legitErr)
	}
	// The goal is under 64 MiB for the host alone. This process also holds the
	// attackers' peer connections and the garbage of 100+ MiB of drained traffic; measured here
	// 143–188 MiB with the gate, the drain and the auth deadline, against 913 MiB (64 attackers)
	// and 698 MiB (16) before them. The bound catches a regression to buffering what strangers
	// send; reaching 64 MiB needs a small SCTP window before authentication (docs/security.md).
	if growth >= 256<<20 {
		t.Errorf("RSS grew %.0f MiB under the attack, bound 256 MiB", float64(growth)/(1<<20))
	}
}
