// Package netlab builds a NAT lab out of Linux network namespaces: a flat "internet" on a
// bridge, a public node for the rendezvous, a STUN server, and peers that sit on the internet
// directly or behind an nftables router (port-preserving or fully-random symmetric NAT, both
// letting in only what conntrack matched, or a firewall that lets out only DNS and TCP 443).
// It needs root, ip(8) and nft(8); Available says why it cannot run.
//
// Every namespace, interface and nft table it creates starts with "natlab-", and Close removes
// the namespaces (which takes their interfaces and rules with them).
package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Kind is where a peer sits.
type Kind int

const (
	// Public is a peer with an internet address of its own and no firewall.
	Public Kind = iota
	// PortPreserving is a peer behind a NAT that keeps the source port where it can (Linux
	// masquerade), so every destination sees one mapping; inbound is conntrack-only
	// (address-and-port-dependent filtering).
	PortPreserving
	// Symmetric is a peer behind a NAT that picks a random port for every new flow
	// (masquerade fully-random); inbound is conntrack-only.
	Symmetric
	// UDPBlocked is a peer behind a port-preserving NAT whose firewall lets out only DNS
	// (UDP and TCP 53) and TCP 443.
	UDPBlocked
)

// Kinds lists every Kind, in order.
var Kinds = []Kind{Public, PortPreserving, Symmetric, UDPBlocked}

func (k Kind) String() string {
	switch k {
	case Public:
		return "public"
	case PortPreserving:
		return "port-preserving"
	case Symmetric:
		return "symmetric"
	case UDPBlocked:
		return "udp-blocked"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Lab addresses. The internet is 11.0.0.0/24 (an address block that is public, so that no
// component treats it as a private network, and that no namespace here can leave); each NATted
// peer gets a LAN 10.N.0.0/24.
const (
	inetPrefix = "11.0.0."
	// RendezvousIP is the rendezvous's HTTP address (it listens on TCP 443, which every kind of
	// peer can reach).
	RendezvousIP = inetPrefix + "1"
	// RelayIP is the rendezvous node's second address, for the TURN relay (its --public-ip):
	// TCP 443 there does not clash with the rendezvous's HTTP.
	RelayIP = inetPrefix + "2"
	// STUNIP is the STUN server's address (UDP 3478).
	STUNIP = inetPrefix + "3"
)

// Available reports why the lab cannot run here (nil when it can).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("the NAT lab needs root (network namespaces and nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the NAT lab needs %s (scripts/install-deps.sh installs it): %w", tool, err)
		}
	}
	return nil
}

// Lab is one lab: its internet and the nodes on it.
type Lab struct {
	id   string
	inet string // the namespace holding the bridge

	mu    sync.Mutex
	nss   []string
	peers int
	ports int
	stun  *stunServer
}

// Node is one namespace where a program runs.
type Node struct {
	// NS is the namespace's name.
	NS string
	// IP is the node's own address (on its LAN behind a NAT, or on the internet).
	IP string
	// PublicIP is the address the internet sees: its router's, or IP.
	PublicIP string
	Kind     Kind
}

// New builds the internet (a bridge), the rendezvous node (RendezvousIP and RelayIP) and a
// STUN server at STUNIP:3478.
func New(ctx context.Context) (l *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	l = &Lab{id: hex.EncodeToString(b)}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if l.inet, err = l.newNS(ctx, "inet"); err != nil {
		return nil, err
	}
	if err := l.ip(ctx, l.inet, "link", "add", "natlab-br", "type", "bridge"); err != nil {
		return nil, err
	}
	if err := l.ip(ctx, l.inet, "link", "set", "natlab-br", "up"); err != nil {
		return nil, err
	}
	// The relay's address comes first, so that it is the one the kernel picks as the source of
	// what a socket bound to the wildcard address sends (a TURN relay's relayed packets): a
	// NAT in front of a peer lets in only packets from the address the peer sent to.
	rv, err := l.attach(ctx, "rv", RelayIP)
	if err != nil {
		return nil, err
	}
	if err := l.ip(ctx, rv, "addr", "add", RendezvousIP+"/24", "dev", "natlab-up"); err != nil {
		return nil, err
	}
	stunNS, err := l.attach(ctx, "stun", STUNIP)
	if err != nil {
		return nil, err
	}
	if l.stun, err = startSTUN(stunNS, STUNIP+":3478"); err != nil {
		return nil, err
	}
	return l, nil
}

// Rendezvous is the node the rendezvous runs in.
func (l *Lab) Rendezvous() *Node {
	return &Node{NS: l.nsName("rv"), IP: RendezvousIP, PublicIP: RendezvousIP, Kind: Public}
}

// STUNURL is the lab's STUN server, for the rendezvous's --stun.
func (l *Lab) STUNURL() string { return "stun:" + STUNIP + ":3478" }

func (l *Lab) nsName(role string) string { return "natlab-" + l.id + "-" + role }

// newNS creates a namespace with loopback up. IPv6 stays on only in the rendezvous's namespace
// (servers listening on ":port" get a dual-stack socket, which answers IPv4 only with IPv6 on);
// elsewhere it is off, so that peers gather no link-local candidates.
func (l *Lab) newNS(ctx context.Context, role string) (string, error) {
	name := l.nsName(role)
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.nss = append(l.nss, name)
	l.mu.Unlock()
	cmds := [][]string{{"ip", "link", "set", "lo", "up"}}
	if role != "rv" {
		cmds = append(cmds, []string{"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
			[]string{"sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"})
	}
	for _, args := range cmds {
		if err := run(ctx, "ip", append([]string{"netns", "exec", name}, args...)...); err != nil {
			return "", err
		}
	}
	return name, nil
}

// attach creates namespace role with an interface natlab-up on the internet at ip.
func (l *Lab) attach(ctx context.Context, role, ip string) (string, error) {
	ns, err := l.newNS(ctx, role)
	if err != nil {
		return "", err
	}
	// Bridge ports are numbered: interface names have at most 15 bytes.
	l.mu.Lock()
	l.ports++
	port := fmt.Sprintf("natlab-p%d", l.ports)
	l.mu.Unlock()
	if err := l.veth(ctx, ns, "natlab-up", l.inet, port); err != nil {
		return "", err
	}
	if err := l.ip(ctx, l.inet, "link", "set", port, "master", "natlab-br"); err != nil {
		return "", err
	}
	return ns, l.addr(ctx, ns, "natlab-up", ip+"/24")
}

// veth joins namespace a's interface an to namespace b's interface bn, both up.
func (l *Lab) veth(ctx context.Context, a, an, b, bn string) error {
	if err := run(ctx, "ip", "link", "add", an, "netns", a, "type", "veth", "peer", "name", bn, "netns", b); err != nil {
		return err
	}
	if err := l.ip(ctx, a, "link", "set", an, "up"); err != nil {
		return err
	}
	return l.ip(ctx, b, "link", "set", bn, "up")
}

func (l *Lab) addr(ctx context.Context, ns, dev, cidr string) error {
	return l.ip(ctx, ns, "addr", "add", cidr, "dev", dev)
}

func (l *Lab) ip(ctx context.Context, ns string, args ...string) error {
	return run(ctx, "ip", append([]string{"-n", ns}, args...)...)
}

// AddPeer adds a peer of the given kind; role names its namespaces ("host", "viewer").
func (l *Lab) AddPeer(ctx context.Context, role string, kind Kind) (*Node, error) {
	l.mu.Lock()
	l.peers++
	n := l.peers
	l.mu.Unlock()
	public := fmt.Sprintf("%s%d", inetPrefix, 10+n)
	if kind == Public {
		ns, err := l.attach(ctx, role, public)
		if err != nil {
			return nil, err
		}
		return &Node{NS: ns, IP: public, PublicIP: public, Kind: kind}, nil
	}
	// A router on the internet, and the peer on the router's LAN.
	router, err := l.attach(ctx, role+"-nat", public)
	if err != nil {
		return nil, err
	}
	ns, err := l.newNS(ctx, role)
	if err != nil {
		return nil, err
	}
	if err := l.veth(ctx, ns, "natlab-up", router, "natlab-lan"); err != nil {
		return nil, err
	}
	gw, ip := fmt.Sprintf("10.%d.0.1", n), fmt.Sprintf("10.%d.0.2", n)
	if err := l.addr(ctx, router, "natlab-lan", gw+"/24"); err != nil {
		return nil, err
	}
	if err := l.addr(ctx, ns, "natlab-up", ip+"/24"); err != nil {
		return nil, err
	}
	if err := l.ip(ctx, ns, "route", "add", "default", "via", gw); err != nil {
		return nil, err
	}
	if err := run(ctx, "ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(natRules(kind))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft in %s: %v: %s", router, err, out)
	}
	return &Node{NS: ns, IP: ip, PublicIP: public, Kind: kind}, nil
}

// natRules is the router's ruleset: source NAT out of the internet side, a forward chain that
// lets the LAN out (all of it, or only DNS and TCP 443) and lets in only what conntrack matched
// to a flow the LAN started, and an input chain that ignores the internet.
func natRules(kind Kind) string {
	masq := "masquerade"
	if kind == Symmetric {
		masq = "masquerade fully-random"
	}
	out := `iifname "natlab-lan" oifname "natlab-up" accept`
	if kind == UDPBlocked {
		out = `iifname "natlab-lan" oifname "natlab-up" udp dport 53 accept
		iifname "natlab-lan" oifname "natlab-up" tcp dport { 53, 443 } accept`
	}
	return `table ip natlab-nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "natlab-up" ` + masq + `
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		` + out + `
	}
	# Unsolicited packets to the router are dropped, as home routers do. This also keeps their
	# conntrack entries unconfirmed: an inbound check that reached the router before the LAN
	# peer's own packet would otherwise hold the port that packet's mapping needs, and the
	# mapping would move to another port.
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		iifname "natlab-lan" accept
	}
}
`
}

// Command runs a program in node's namespace.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Do runs fn on a thread in node's namespace: sockets fn opens stay in that namespace.
func (n *Node) Do(fn func() error) error { return inNS(n.NS, fn) }

func inNS(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine whose thread is thrown away afterwards: if switching back failed, no
	// other goroutine may ever run on a thread left in the lab's namespace.
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := setNetNS(int(target.Fd())); err != nil {
			errc <- fmt.Errorf("enter %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := setNetNS(int(orig.Fd())); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave %s: %w", ns, err))
			return // the thread stays locked and exits with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a TCP listener in node's namespace.
func (n *Node) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// Dial opens a TCP connection from node's namespace.
func (n *Node) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// Close stops the STUN server and deletes every namespace the lab created.
func (l *Lab) Close() error {
	var errs []error
	if l.stun != nil {
		errs = append(errs, l.stun.Close())
	}
	l.mu.Lock()
	nss := l.nss
	l.nss = nil
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(nss) - 1; i >= 0; i-- {
		errs = append(errs, run(ctx, "ip", "netns", "del", nss[i]))
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
