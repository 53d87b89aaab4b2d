package host

import (
	"net/netip"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/tunnel"
)

// policyFor is the forward policy of one viewer: the host-wide --allow list, narrowed by the
// key's permitopen options when it has any. A key can never reach more than the host allows.
func (a *Agent) policyFor(o auth.Options) (*tunnel.Policy, error) {
	if len(o.PermitOpen) == 0 {
		return a.policy, nil
	}
	own, err := tunnel.NewPolicy(o.PermitOpen, nil)
	if err != nil {
		return nil, err
	}
	return a.policy.Intersect(own), nil
}

// listenPolicyFor is the reverse-forward policy of one viewer: --allow-listen, narrowed by the
// key's permitlisten options when it has any.
func (a *Agent) listenPolicyFor(o auth.Options) (tunnel.ListenChecker, error) {
	if len(o.PermitListen) == 0 {
		return a.listen, nil
	}
	own, err := tunnel.NewListenPolicy(o.PermitListen)
	if err != nil {
		return nil, err
	}
	return bothListen{a.listen, own}, nil
}

// bothListen allows a listener only where both policies do.
type bothListen struct{ a, b tunnel.ListenChecker }

func (p bothListen) CheckListen(addr string) (netip.AddrPort, error) {
	if _, err := p.b.CheckListen(addr); err != nil {
		return netip.AddrPort{}, err
	}
	return p.a.CheckListen(addr)
}
