package host

import (
	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
)

// policyFor is the forward policy of one viewer: the host-wide --allow list, narrowed by the
// key's permitopen options when it has any. A key can never reach more than the host allows.
// The host-wide part is read at every open, so a Reload applies to running sessions.
func (a *Agent) policyFor(o auth.Options) (livePolicy, error) {
	if len(o.PermitOpen) == 0 {
		return livePolicy{a: a}, nil
	}
	own, err := forward.NewPolicy(o.PermitOpen, nil)
	if err != nil {
		return livePolicy{}, err
	}
	return livePolicy{a: a, own: own}, nil
}

// listenPolicyFor is the reverse-forward policy of one viewer: --allow-listen, narrowed by the
// key's permitlisten options when it has any.
func (a *Agent) listenPolicyFor(o auth.Options) (forward.ListenChecker, error) {
	if len(o.PermitListen) == 0 {
		return liveListen{a: a}, nil
	}
	own, err := forward.NewListenPolicy(o.PermitListen)
	if err != nil {
		return nil, err
	}
	return liveListen{a: a, own: own}, nil
}
