package host

import (
	"context"
	"net/netip"

	"github.com/deskport/deskport/forward"
)

// ConsentRequest describes a one-time-code viewer waiting for the host owner's decision.
type ConsentRequest struct {
	SessionID string
	Viewer    string // key fingerprint, or "code" when the viewer offered no key
	Addr      string // the viewer's address as the rendezvous saw it
	Offered   Caps   // what the session would get (--grant)
}

// consent asks the owner, with input injection paused for every session meanwhile.
//
// gone closes when the viewer's connection ends: the question is withdrawn then (the owner
// reads "the viewer left") instead of staying open, pausing every session's input, for an
// answer nobody waits for.
func (a *Agent) consent(ctx context.Context, gone <-chan struct{}, req ConsentRequest) (Caps, bool) {
	a.prompting.Add(1)
	defer a.prompting.Add(-1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-gone:
			cancel()
		case <-stop:
		}
	}()
	return a.cfg.Consent(ctx, req)
}

// inputPaused reports whether injected input must be dropped (a consent prompt is open).
func (a *Agent) inputPaused() bool { return a.prompting.Load() > 0 }

// refusal is a policy that refuses everything with one explanation.
type refusal string

func refuse(msg string) refusal { return refusal(msg) }

func (r refusal) Check(ctx context.Context, target string) (netip.AddrPort, error) {
	return netip.AddrPort{}, &refusedError{msg: string(r)}
}

func (r refusal) CheckListen(addr string) (netip.AddrPort, error) {
	return netip.AddrPort{}, &refusedError{msg: string(r)}
}

type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return forward.ErrTargetRefused }
