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
func (a *Agent) consent(ctx context.Context, req ConsentRequest) (Caps, bool) {
	a.prompting.Add(1)
	defer a.prompting.Add(-1)
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
