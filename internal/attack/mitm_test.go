package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/session"
)

// mitm is a malicious rendezvous: it sits on the signaling path between a real viewer and a
// real host, answers the viewer's offer with its own peer connection, makes its own offer to
// the host with another, so DTLS ends at the attacker on both legs, and relays every
// data-channel message between the legs. When inject is set it does not relay the viewer's
// tunnel channel but runs its own yamux client on the host's tunnel channel and tries to
// forward to target before, during and after authentication.
type mitm struct {
	toViewer, toHost *rawPeer
	relayed          atomic.Int64 // messages relayed, both directions
	injectErr        error
	wg               sync.WaitGroup
	stop             context.CancelFunc
}

func runMITM(ctx context.Context, t testing.TB, viewerSig, hostSig chanSignaler, inject string) *mitm {
	m := &mitm{toViewer: newRawPeer(t, viewerSig, rawOptions{}), toHost: newRawPeer(t, hostSig, rawOptions{})}
	ctx, m.stop = context.WithCancel(ctx)
	teardown := func() { m.stop(); m.toViewer.pc.Close(); m.toHost.pc.Close() }
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if _, err := m.toViewer.answer(ctx); err != nil {
			teardown()
			return
		}
		if _, err := m.toHost.offer(ctx); err != nil {
			teardown()
			return
		}
		for _, id := range sessionChannels {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				v, err := m.toViewer.channel(ctx, id)
				if err != nil {
					teardown()
					return
				}
				defer v.Close()
				h, err := m.toHost.channel(ctx, id)
				if err != nil {
					teardown()
					return
				}
				defer h.Close()
				if id == tunnelID && inject != "" {
					m.wg.Add(1)
					go func() { defer m.wg.Done(); drain(v) }()
					m.injectErr = injectForward(ctx, h, inject)
					teardown()
					return
				}
				var cw sync.WaitGroup
				cw.Add(2)
				go func() { defer cw.Done(); m.copy(h, v); teardown() }()
				go func() { defer cw.Done(); m.copy(v, h); teardown() }()
				cw.Wait()
			}()
		}
	}()
	return m
}

func (m *mitm) copy(dst, src datachannel.ReadWriteCloserDeadliner) {
	buf := make([]byte, 256<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
		m.relayed.Add(1)
	}
}

func drain(r datachannel.ReadWriteCloserDeadliner) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// injectForward speaks the tunnel protocol itself on the host's tunnel channel: a yamux client
// and one forward to addr, sending a payload if the host ever answers.
func injectForward(ctx context.Context, ch datachannel.ReadWriteCloserDeadliner, addr string) error {
	conn := mux.NewStreamConn(ch, mux.AdapterConfig{})
	defer conn.Close()
	mux, err := mux.NewClientSession(conn, nil)
	if err != nil {
		return err
	}
	defer mux.Close()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := forward.NewClient(mux, nil).Dial(dctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("attacker was here"))
	if err == nil {
		return errors.New("the host accepted a forward from the man in the middle")
	}
	return err
}

func (m *mitm) Close() {
	m.stop()
	m.toViewer.pc.Close()
	m.toHost.pc.Close()
	m.wg.Wait()
	m.toViewer.Close()
	m.toHost.Close()
}

type mitmResult struct {
	verr, herr error
	relayed    int64
	injectErr  error
}

// mitmRun runs one session through the relay. With code set the host shows a fresh code and
// the viewer types it (the right one, which the attacker also knows).
func mitmRun(t testing.TB, codeMode bool, inject bool, tg *target) mitmResult {
	hostKey, viewerKey := newKey(t), newKey(t)
	vs, mitmV := signalPair()
	hs, mitmH := signalPair()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := auth.HostConfig{Key: hostKey.priv, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, viewerKey.pub)
	}}
	vc := auth.ViewerConfig{Key: viewerKey.priv}
	if codeMode {
		hc.Codes = auth.NewCodeStore(0, nil)
		vc.Code, _ = hc.Codes.Generate()
	}
	injectAddr := ""
	if inject {
		injectAddr = tg.Addr()
	}
	m := runMITM(ctx, t, mitmV, mitmH, injectAddr)
	cfg := session.Config{LoopbackOnly: true, HandshakeTimeout: 20 * time.Second}
	var res mitmResult
	var host *session.HostConn
	var viewer *session.ViewerConn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		host, res.herr = session.Accept(ctx, hs, hostKey.id, cfg, hc)
		if res.herr == nil {
			// It must not happen; if it does, serve forwards so the test sees the damage.
			policy, _ := forward.NewPolicy([]string{tg.Addr()}, nil)
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			_ = forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(sctx, host.Mux)
		}
	}()
	viewer, res.verr = session.Dial(ctx, vs, hostKey.id, cfg, vc)
	if res.verr == nil {
		if c, err := forward.NewClient(viewer.Mux, nil).Dial(ctx, tg.Addr()); err == nil {
			c.Write([]byte("relayed payload"))
			c.Close()
		}
		viewer.Close()
	}
	wg.Wait()
	if host != nil {
		host.Close()
	}
	m.Close()
	res.relayed, res.injectErr = m.relayed.Load(), m.injectErr
	return res
}

// TestMITMRelay is the relaying man in the middle of docs/auth.md ("Why it exists"): a
// malicious rendezvous that terminates DTLS on both legs and relays every message. The viewer
// must detect it (ErrHostMismatch) in every run, in both methods, even when the attacker
// knows the right code, and no byte may reach the TCP target, relayed or injected.
func TestMITMRelay(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 10
	}
	const parallel = 4
	for _, mode := range []struct {
		name string
		code bool
	}{{"trusted-key", false}, {"code", true}} {
		t.Run(mode.name, func(t *testing.T) {
			tg := newTarget(t, false)
			start := time.Now()
			var mu sync.Mutex
			var relayed int64
			hostErrs, injectErrs := map[string]int{}, map[string]int{}
			sem := make(chan struct{}, parallel)
			var wg sync.WaitGroup
			for i := range runs {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					r := mitmRun(t, mode.code, i%2 == 1, tg)
					if !errors.Is(r.verr, auth.ErrHostMismatch) {
						t.Errorf("run %d: viewer error %v, want ErrHostMismatch", i, r.verr)
					}
					if r.herr == nil {
						t.Errorf("run %d: the host accepted the relayed viewer", i)
					}
					mu.Lock()
					relayed += r.relayed
					hostErrs[errKind(r.herr)]++
					if i%2 == 1 {
						injectErrs[errKind(r.injectErr)]++
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
			if n, b := tg.conns.Load(), tg.bytes.Load(); n != 0 || b != 0 {
				t.Errorf("the TCP target saw %d connections and %d bytes", n, b)
			}
			t.Logf("%d runs in %v (%d at a time): viewer refused every time; %d messages relayed; host errors %v; injected forwards (odd runs) ended with %v; target connections 0",
				runs, time.Since(start).Round(time.Millisecond), parallel, relayed, hostErrs, injectErrs)
		})
	}
}

func errKind(err error) string {
	for _, e := range []error{auth.ErrAborted, auth.ErrProtocol, auth.ErrUnauthorized, auth.ErrBadCode, auth.ErrHostMismatch, session.ErrHandshakeTimeout, session.ErrPeerLeft, session.ErrConnectionFailed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return "nil"
	}
	msg := err.Error()
	if i := strings.Index(msg, ": ["); i >= 0 {
		msg = msg[:i] + ": connection aborted"
	}
	return msg
}
