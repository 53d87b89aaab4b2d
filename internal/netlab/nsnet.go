package netlab

import (
	"fmt"
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// nsNet is the real network of a network namespace (NewNet).
type nsNet struct {
	*stdnet.Net
	ns string // name under /run/netns
}

// NewNet is the real network of namespace ns as a pion transport.Net, for a peer connection
// that lives in this process while its packets cross the namespace's links: its sockets are
// created on a thread switched into the namespace (a socket stays in the namespace it was made
// in) and its interface list is that namespace's. Only what ICE over UDP uses is switched; the
// rest is this process's namespace.
func NewNet(ns string) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &nsNet{Net: n, ns: ns}, nil
}

func (n *nsNet) in(f func() error) error { return inNS(n.ns, f) }

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.in(func() error { c, err = net.ListenUDP(network, laddr); return err })
	return c, err
}

func (n *nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.in(func() error { c, err = net.ListenPacket(network, address); return err })
	return c, err
}

func (n *nsNet) Interfaces() (ifs []*transport.Interface, err error) {
	err = n.in(func() error {
		sys, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifc := range sys {
			t := transport.NewInterface(ifc)
			addrs, err := ifc.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				t.AddAddress(a)
			}
			ifs = append(ifs, t)
		}
		return nil
	})
	return ifs, err
}

func (n *nsNet) InterfaceByName(name string) (*transport.Interface, error) {
	ifs, err := n.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifs {
		if ifc.Name == name {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", transport.ErrInterfaceNotFound, name)
}

func (n *nsNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifs, err := n.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifs {
		if ifc.Index == index {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", transport.ErrInterfaceNotFound, index)
}
