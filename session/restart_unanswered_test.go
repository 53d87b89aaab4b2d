package session

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/signaling"
	"github.com/deskport/deskport/tempfork/webrtc"
)

// resignalWith makes the viewer's next restarts reach the signalers next returns, for as long as
// the test runs. The viewer calls resignal only under restartMu.
func (l *restartLab) resignalWith(next func() Signaler) {
	l.viewer.restartMu.Lock()
	defer l.viewer.restartMu.Unlock()
	l.viewer.resignal = func(context.Context) (Signaler, error) { return next(), nil }
}

// silentHost is a host end that takes the restart offer and ends the signaling without an
// answer, as a host from before unknownSessionReason does when it knows no such session.
func silentHost() Signaler {
	vs, hs := signalPair()
	go func() {
		<-hs.Recv()
		close(hs.out)
	}()
	return vs
}

// waitICEState waits until c's ICE connection state is want.
func waitICEState(t *testing.T, c *Conn, want webrtc.ICEConnectionState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.iceMu.Lock()
		s, wake := c.iceState, c.iceWake
		c.iceMu.Unlock()
		if s == want {
			return
		}
		select {
		case <-wake:
		case <-timeout:
			t.Fatalf("ICE is %s, never became %s", s, want)
		}
	}
}

// TestICERestartAfterUnansweredOffer: a restart whose offer got no answer (the host was not back
// yet, or did not answer in time) leaves the viewer's peer connection in have-local-offer; the
// next attempt rolls that offer back and restarts again, and that restart connects (ICE
// credentials regenerated, candidates gathered again), although ICE was checking already and
// reports no new checking state for it. pion refused the rollback, so every later
// attempt failed with "invalid SDP type supplied to SetLocalDescription(): rollback" and the
// session was lost (tempfork/webrtc 0012).
func TestICERestartAfterUnansweredOffer(t *testing.T) {
	l := newRestartLab(t)
	unanswered := true
	l.resignalWith(func() Signaler {
		if unanswered {
			unanswered = false
			return silentHost()
		}
		return l.accept()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.viewer.restartICE(ctx); err == nil {
		t.Fatal("a restart the host never answered succeeded")
	}
	// The viewer retries after a back-off, by which time ICE reports the first restart's
	// checking: the second restart makes no new state change.
	waitICEState(t, l.viewer.Conn, webrtc.ICEConnectionStateChecking)
	if err := l.viewer.restartICE(ctx); err != nil {
		t.Fatalf("the restart after an unanswered offer: %v", err)
	}
	if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
		t.Fatalf("host Accept returned %v, want ErrRestarted", err)
	}
	forwardThrough(t, l.viewer, l.host, payload(1<<20))
}

// TestICERestartReachesRestartedHost: when the path dies and the viewer's restart reaches a host
// process that knows no such session (it restarted with the same key, so the rendezvous routes
// the restart to it), the new host says so instead of only ending the restart's signaling, and
// the viewer ends its session at once with ErrHostRestarted, after one attempt, rather than
// retrying for a minute.
func TestICERestartReachesRestartedHost(t *testing.T) {
	l := newRestartLab(t)
	newHost := l.hostCfg
	newHost.Restarts = NewRestarts() // a new process: no session registered
	newHost.Logger = slog.New(slog.DiscardHandler)
	refused := make(chan error, 4)
	var mu sync.Mutex
	attempts := 0
	l.resignalWith(func() Signaler {
		mu.Lock()
		attempts++
		mu.Unlock()
		vs, hs := signalPair()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := Accept(ctx, hs, l.hostID, newHost, l.hostAuth)
			if c != nil {
				c.Close()
				err = errors.New("a restart offer opened a new session")
			}
			refused <- err
		}()
		return vs
	})
	// The path dies (as ICE reports it), and the viewer's own loop restarts.
	l.viewer.iceChanged(webrtc.ICEConnectionStateDisconnected)
	select {
	case <-l.viewer.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the viewer's session did not end")
	}
	if err := l.viewer.Err(); !errors.Is(err, ErrHostRestarted) {
		t.Fatalf("the viewer's session ended with %v, want ErrHostRestarted", err)
	}
	if err := <-refused; !errors.Is(err, ErrBadRestart) {
		t.Fatalf("the new host's Accept returned %v, want ErrBadRestart", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 1 {
		t.Errorf("%d restart attempts, want 1", attempts)
	}
}

// answerFails is a host's end of a restart's signaling whose answer cannot be sent: the viewer
// gave up on the restart and its rendezvous session is closed.
type answerFails struct{ chanSignaler }

func (s answerFails) Send(ctx context.Context, m *signaling.Message) error {
	if m.Type == signaling.TypeAnswer {
		return errors.New("rendezvous session closed")
	}
	return s.chanSignaler.Send(ctx, m)
}

// TestLateRestartIsNoRefusal: a restart offer with a valid proof that the host takes up only
// after the viewer gave up on it (a host that was stopped, or slow) cannot be answered. The host
// logged that as "viewer refused" and counted and audited a refused viewer; it is a restart
// that did not get through (ErrRestarted, wrapped), which the host agent logs as such.
func TestLateRestartIsNoRefusal(t *testing.T) {
	l := newRestartLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.viewer.restartICE(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
		t.Fatalf("host Accept returned %v, want ErrRestarted", err)
	}
	l.mu.Lock()
	p, _ := parseRestart(l.sigs[0].offer().SDP)
	l.mu.Unlock()
	vs, hs := signalPair()
	if err := vs.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: l.viewer.rkey.sign("offer", 2, p.rest)}); err != nil {
		t.Fatal(err)
	}
	c, err := Accept(ctx, answerFails{hs}, l.hostID, l.hostCfg, l.hostAuth)
	if c != nil {
		c.Close()
		t.Fatal("a restart offer opened a new session")
	}
	if !errors.Is(err, ErrRestarted) || errors.Is(err, ErrBadRestart) {
		t.Fatalf("host Accept returned %v, want ErrRestarted (a restart that could not be answered)", err)
	}
}
