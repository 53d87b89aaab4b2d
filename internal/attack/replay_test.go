package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/session"
)

// rawViewer connects an attacker-controlled pion peer to a real host (session.Accept) and hands
// fn the auth channel and the Binding the viewer side sees. It returns what Accept returned;
// the host Conn is closed before it returns.
func rawViewer(t testing.TB, hostID string, hc auth.HostConfig, opts rawOptions, fn func(ctx context.Context, p *rawPeer, ch datachannel.ReadWriteCloserDeadliner, b auth.Binding)) (peer *auth.Peer, herr error) {
	t.Helper()
	vs, hs := signalPair()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newRawPeer(t, vs, opts)
	defer p.Close()
	var host *session.HostConn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		host, herr = session.Accept(ctx, hs, hostID, session.Config{LoopbackOnly: true, HandshakeTimeout: 20 * time.Second}, hc)
	}()
	func() {
		if _, err := p.offer(ctx); err != nil {
			t.Errorf("offer: %v", err)
			return
		}
		ch, err := p.channel(ctx, authID)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() {
			_ = ch.SetReadDeadline(time.Now()) // stops pion's deadline timer goroutine
			ch.Close()
		}()
		local, remote, err := p.binding()
		if err != nil {
			t.Error(err)
			return
		}
		fn(ctx, p, ch, auth.Binding{HostCert: remote, ViewerCert: local, HostID: hostID})
	}()
	p.pc.Close() // the viewer hangs up, so a refusing host stops lingering
	wg.Wait()
	if host != nil {
		peer = host.Peer
		host.Close()
	}
	return peer, herr
}

// recorder keeps a copy of every message written through it.
type recorder struct {
	io.ReadWriter
	sent [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.sent = append(r.sent, bytes.Clone(p))
	return r.ReadWriter.Write(p)
}

// TestReplay records the viewer's handshake messages from a successful real session and
// replays them, in order and answering each host message with the recorded next one, into a
// new real session with the same host. The host must refuse: its fresh nonce (and, for codes,
// its fresh CPace share and code) are in everything the recorded proofs cover.
func TestReplay(t *testing.T) {
	hostKey, viewerKey := newKey(t), newKey(t)
	for _, mode := range []string{"key", "code"} {
		t.Run(mode, func(t *testing.T) {
			hc := auth.HostConfig{Key: hostKey.priv, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
				return auth.Options{ViewOnly: true}, bytes.Equal(k, viewerKey.pub)
			}}
			vc := auth.ViewerConfig{Key: viewerKey.priv}
			if mode == "code" {
				hc.Codes = auth.NewCodeStore(0, nil)
				vc.Code, _ = hc.Codes.Generate()
			}
			var rec *recorder
			peer, herr := rawViewer(t, hostKey.id, hc, rawOptions{}, func(ctx context.Context, _ *rawPeer, ch datachannel.ReadWriteCloserDeadliner, b auth.Binding) {
				rec = &recorder{ReadWriter: ch}
				if _, err := auth.Viewer(rec, b, vc); err != nil {
					t.Errorf("the genuine viewer failed: %v", err)
				}
			})
			if herr != nil || peer == nil || peer.Method != mode {
				t.Fatalf("recording session: host %v, peer %+v", herr, peer)
			}
			t.Logf("recorded %d viewer messages (%d, %d bytes)", len(rec.sent), len(rec.sent[0]), len(rec.sent[1]))

			if mode == "code" {
				hc.Codes.Generate() // the host owner shows a new code; the attacker does not know it
			}
			var result map[string]any
			_, herr = rawViewer(t, hostKey.id, hc, rawOptions{}, func(ctx context.Context, _ *rawPeer, ch datachannel.ReadWriteCloserDeadliner, _ auth.Binding) {
				ch.SetReadDeadline(time.Now().Add(10 * time.Second))
				for i, m := range rec.sent {
					if _, err := ch.Write(m); err != nil {
						t.Errorf("replaying message %d: %v", i, err)
						return
					}
					reply, err := readMsg(ch)
					if err != nil {
						t.Errorf("reading the host's answer to message %d: %v", i, err)
						return
					}
					var msg map[string]any
					if err := json.Unmarshal(reply, &msg); err != nil {
						t.Errorf("host answer %q: %v", reply, err)
						return
					}
					if msg["type"] == "result" {
						result = msg
						return
					}
				}
			})
			if herr == nil {
				t.Fatal("the host accepted a replayed handshake")
			}
			if result == nil || result["ok"] != false {
				t.Fatalf("host result %v, want ok:false", result)
			}
			want := map[string]string{"key": "unauthorized", "code": "bad_code"}[mode]
			if result["code"] != want {
				t.Errorf("refusal code %v, want %s", result["code"], want)
			}
			wantErr := map[string]error{"key": auth.ErrUnauthorized, "code": auth.ErrBadCode}[mode]
			if !errors.Is(herr, wantErr) {
				t.Errorf("host error %v, want %v", herr, wantErr)
			}
			t.Logf("replay refused: host said %v/%v, Accept returned %v", result["code"], result["message"], herr)
		})
	}
}
