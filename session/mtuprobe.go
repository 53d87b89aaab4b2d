package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
)

// The jumbo-frame probe. Two peers on one directly attached network that both advertise a link
// MTU above Ethernet's (mtu.go) start with Ethernet-sized SCTP packets, and each proves its own
// direction before it sends bigger ones: from the socket of the selected candidate pair it sends
// the peer one UDP datagram as big as its DTLS records would get, and raises its packet size
// only once the peer acknowledged that datagram. A switch or NIC that drops jumbo frames says
// nothing (no ICMP, no error on the socket), and SCTP has no path-MTU fallback: a DATA chunk cut
// to a size the path drops can never be cut again (tempfork/sctp patch 0002), and after the
// timeout that follows, pion's window of one small packet never lets it out again — the
// association stalls for good. So the probe stays out of SCTP altogether, and nothing is cut
// to a size before the path carried it.
//
// The probe and its ack are UDP datagrams beside ICE's, DTLS's and SRTP's on the same socket;
// they start with a byte none of those start with (RFC 9443's demultiplexing: 0xFF is
// unassigned), so a peer that does not know them — pion's mux — drops them. The socket wrapper
// below takes them out of what ICE reads. A datagram is the magic, a kind byte, an 8-byte
// nonce and a length (big-endian); a probe is padded with zeros to its length, an ack is the
// header alone and carries the length of the probe that arrived.
const (
	probeKindProbe byte = 1
	probeKindAck   byte = 2
	probeHeaderLen      = 4 + 1 + 8 + 4
	// probeAttempts and probeWait bound the probe: a lost probe or ack is tried again, and a
	// path that drops big packets costs probeAttempts×probeWait once, at set-up.
	probeAttempts = 3
	probeWait     = 200 * time.Millisecond
	// minProbeLen is the smallest probe answered: probes are only ever bigger than Ethernet's
	// packets, and the ack is then under a seventieth of what asked for it.
	minProbeLen = 1200
	// maxProbeReplies bounds the acks one socket sends. An ack is far smaller than the probe it
	// answers, so answering is no amplifier; the bound only keeps it from being a chore.
	maxProbeReplies = 64
)

// probeMagic starts every probe datagram.
var probeMagic = [4]byte{0xFF, 'd', 'p', 'm'}

// ErrBadProbe is a datagram that starts like a probe but is not a well-formed probe or ack.
var ErrBadProbe = errors.New("session: malformed MTU probe datagram")

// probeMsg is one probe datagram.
type probeMsg struct {
	kind   byte
	nonce  uint64
	length uint32 // a probe's own length; an ack's, the length of the probe that arrived
}

// isProbe says whether a datagram is one of ours (well-formed or not), not ICE's or DTLS's.
func isProbe(b []byte) bool { return len(b) >= 4 && [4]byte(b[:4]) == probeMagic }

// parseProbe reads a probe datagram.
func parseProbe(b []byte) (probeMsg, error) {
	if len(b) < probeHeaderLen || !isProbe(b) {
		return probeMsg{}, ErrBadProbe
	}
	m := probeMsg{kind: b[4], nonce: binary.BigEndian.Uint64(b[5:]), length: binary.BigEndian.Uint32(b[13:])}
	switch {
	case m.kind == probeKindProbe && int(m.length) == len(b):
	case m.kind == probeKindAck && len(b) == probeHeaderLen:
	default:
		return probeMsg{}, ErrBadProbe
	}
	return m, nil
}

// encode returns the datagram: a probe padded to its length, an ack as its header.
func (m probeMsg) encode() []byte {
	n := probeHeaderLen
	if m.kind == probeKindProbe {
		n = max(n, int(m.length))
	}
	b := make([]byte, n)
	copy(b, probeMagic[:])
	b[4] = m.kind
	binary.BigEndian.PutUint64(b[5:], m.nonce)
	binary.BigEndian.PutUint32(b[13:], m.length)
	return b
}

// udpProbes is every UDP socket of one peer connection, wrapped to answer the peer's probes and
// to hand acks to the prober waiting for them.
type udpProbes struct {
	mu      sync.Mutex
	conns   map[*probeUDPConn]struct{}
	waiting map[uint64]chan<- uint32 // nonce → the length the peer received
}

func newUDPProbes() *udpProbes {
	return &udpProbes{conns: map[*probeUDPConn]struct{}{}, waiting: map[uint64]chan<- uint32{}}
}

// probeNet is a network whose UDP sockets answer probes (probeUDPConn).
type probeNet struct {
	transport.Net
	probes *udpProbes
}

// addrPortConn is a UDP socket with the allocation-free calls pion/ice uses (pacer.go).
type addrPortConn interface {
	transport.UDPConn
	ReadFromAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

func (n probeNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return conn, err
	}
	ac, ok := conn.(addrPortConn)
	if !ok {
		return conn, nil // pion's mDNS socket (pacer.go): no candidate pair uses it
	}
	c := &probeUDPConn{addrPortConn: ac, probes: n.probes}
	n.probes.mu.Lock()
	n.probes.conns[c] = struct{}{}
	n.probes.mu.Unlock()
	return c, nil
}

// aloneWriter is a socket that can send a datagram by itself, outside its batched writes.
type aloneWriter interface {
	writeAlone(b []byte, addr netip.AddrPort) (int, error)
}

// probeUDPConn is a socket that takes probe datagrams out of what ICE reads: it acknowledges
// probes and passes acks on.
type probeUDPConn struct {
	addrPortConn
	probes  *udpProbes
	replies atomic.Int32
}

// ReadFromAddrPort is how pion/ice reads (pacer.go), so it is where probes are taken out.
func (c *probeUDPConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.addrPortConn.ReadFromAddrPort(b)
		if err != nil || !isProbe(b[:n]) {
			return n, addr, err
		}
		c.handle(b[:n], addr)
	}
}

func (c *probeUDPConn) handle(b []byte, from netip.AddrPort) {
	m, err := parseProbe(b)
	if err != nil {
		return
	}
	switch m.kind {
	case probeKindProbe:
		if len(b) < minProbeLen || c.replies.Add(1) > maxProbeReplies {
			return
		}
		ack := probeMsg{kind: probeKindAck, nonce: m.nonce, length: uint32(len(b))}
		_, _ = c.addrPortConn.WriteToAddrPort(ack.encode(), from)
	case probeKindAck:
		c.probes.mu.Lock()
		ch := c.probes.waiting[m.nonce]
		c.probes.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m.length:
			default:
			}
		}
	}
}

func (c *probeUDPConn) Close() error {
	c.probes.mu.Lock()
	delete(c.probes.conns, c)
	c.probes.mu.Unlock()
	return c.addrPortConn.Close()
}

// find returns the socket bound to local: the one the selected candidate pair sends from.
func (p *udpProbes) find(local netip.AddrPort) *probeUDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && ua.AddrPort().Port() == local.Port() &&
			(ua.AddrPort().Addr().Unmap() == local.Addr().Unmap() || ua.IP.IsUnspecified()) {
			return c
		}
	}
	return nil
}

// confirm sends probes of size bytes from c to remote until one is acknowledged as arrived
// whole, probeAttempts at most.
func (p *udpProbes) confirm(ctx context.Context, c *probeUDPConn, remote netip.AddrPort, size int) (bool, error) {
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return false, err
	}
	nonce := binary.BigEndian.Uint64(nb[:])
	acks := make(chan uint32, probeAttempts)
	p.mu.Lock()
	p.waiting[nonce] = acks
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, nonce)
		p.mu.Unlock()
	}()
	probe := probeMsg{kind: probeKindProbe, nonce: nonce, length: uint32(size)}.encode()
	send := c.addrPortConn.WriteToAddrPort
	if a, ok := c.addrPortConn.(aloneWriter); ok {
		send = a.writeAlone // never inside a GSO message (pacer.go)
	}
	t := time.NewTimer(probeWait)
	defer t.Stop()
	for range probeAttempts {
		if _, err := send(probe, remote); err != nil {
			return false, err
		}
		t.Reset(probeWait)
	wait:
		for {
			select {
			case n := <-acks:
				if int(n) == size {
					return true, nil
				}
			case <-t.C:
				break wait
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	}
	return false, nil
}

// probeMTU raises the packet size to the one mtu.go found worth probing for, when it did, if a
// datagram as big as its DTLS records gets through to the peer; otherwise the Ethernet-sized one
// stays. Both ends call it once the association is up, before authentication.
func (c *Conn) probeMTU(ctx context.Context) {
	target := c.mtu.probe.Load()
	if target == 0 || c.mtu.udp == nil {
		return
	}
	sctp := c.pc.SCTP()
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return
	}
	localIP, err1 := netip.ParseAddr(pair.Local.Address)
	remoteIP, err2 := netip.ParseAddr(pair.Remote.Address)
	if err1 != nil || err2 != nil {
		return
	}
	local := netip.AddrPortFrom(localIP, pair.Local.Port)
	remote := netip.AddrPortFrom(remoteIP, pair.Remote.Port)
	conn := c.mtu.udp.find(local)
	if conn == nil {
		c.log.Debug("no socket for the MTU probe", "local", local)
		return
	}
	began := time.Now()
	// The datagram is as big as the worst DTLS record around a packet of target bytes, which
	// mtu.go made fit both links: if it arrives, every record will.
	ok, err := c.mtu.udp.confirm(ctx, conn, remote, int(target)+dtlsOverhead)
	if err != nil {
		c.log.Debug("MTU probe", "err", err)
		return
	}
	from := c.mtu.chosen.Load()
	if !ok {
		c.log.Warn("both ends have jumbo frames, but big packets do not get through (a switch or NIC on the way drops them); keeping Ethernet-sized packets",
			"bytes", from, "probed", target)
		return
	}
	if set, err := sctp.SetMTU(target); !set || err != nil {
		c.log.Warn("cannot raise the SCTP packet size", "bytes", target, "err", err)
		return
	}
	c.mtu.chosen.Store(target)
	key := pairKey(*pair.Local, *pair.Remote)
	c.mtu.proven.Store(&key)
	c.log.Info("SCTP packet size raised: a probe crossed the jumbo-frame link",
		"from", from, "to", target, "after", time.Since(began).Round(time.Microsecond))
}
