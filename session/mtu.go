package session

import (
	"bufio"
	"cmp"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/transport/v5/vnet"
)

// SCTP packet sizing. pion sends SCTP packets of at most 1191 bytes: safe on any path, including
// IPv6 through a TURN relay, since nothing in WebRTC discovers the path MTU. Every packet costs a
// UDP syscall, a DTLS record and SCTP bookkeeping on both ends, and that per-packet cost is what
// bounds a forward's throughput (docs/session.md). When the path is known to carry bigger
// datagrams — the peer is on this machine or on a directly attached network, and it said it reads
// bigger datagrams — the session sends bigger SCTP packets. Beyond Ethernet's 1500 bytes (a
// jumbo-frame link that both ends say they have) it first proves that a packet of that size gets
// through (mtuprobe.go), since a switch or NIC that drops jumbo frames says nothing.
const (
	// maxDatagram is the largest UDP payload a deskport peer reads whole: pion's ICE and DTLS
	// read buffers are 8192 bytes. Each peer advertises it in its session description.
	maxDatagram = 8192
	// dtlsOverhead bounds what DTLS adds to a record: a 13-byte header plus, for the worst of
	// pion's suites (AES-CBC with SHA-1), a 16-byte IV, a 20-byte MAC and up to 16 bytes of
	// padding. (AES-GCM, which two deskport peers negotiate, adds 37.)
	dtlsOverhead = 13 + 16 + 20 + 16
	// defaultSCTPMTU is pion's own packet size, kept on every other path.
	defaultSCTPMTU = 1191
	// ethernetMTU caps the link MTU to a peer on another machine until a probe proved more.
	ethernetMTU = 1500
	// sdpMaxDatagram is the session-level SDP attribute that carries maxDatagram. Browsers ignore
	// attributes they do not know, and a peer that does not send it gets 1191-byte packets.
	sdpMaxDatagram = "x-deskport-max-datagram"
	// sdpLinkMTU is the session-level SDP attribute that carries the largest MTU of this end's
	// network interfaces (loopback aside): what its own NIC takes on a directly attached network.
	sdpLinkMTU = "x-deskport-link-mtu"
)

// pathMTU chooses the SCTP packet size of one peer connection once ICE has selected a path.
type pathMTU struct {
	// peerMax is the datagram size the peer advertised; 0 until its description arrives, or if
	// it advertised none.
	peerMax atomic.Uint32
	// peerLink is the link MTU the peer advertised; 0 if none (a browser, an older deskport).
	peerLink atomic.Uint32
	// links lists this machine's network interfaces; nil when the network is simulated,
	// which then keeps the default.
	links func() ([]link, error)
	// chosen is the packet size in use, once the association started.
	chosen atomic.Uint32
	// probe is a bigger packet size the path may carry (both ends are on a jumbo-frame link),
	// to be proven by a probe before it is used; 0 when there is none.
	probe atomic.Uint32
	// proven is the selected pair a probe proved probe on ("local remote"), so that an ICE
	// restart onto the same pair keeps it.
	proven atomic.Pointer[string]
	// udp is the connection's sockets as the probe uses them; nil on a simulated network.
	udp *udpProbes
	log *slog.Logger
}

// sctpMTU is the selector pion calls when the association starts.
func (p *pathMTU) sctpMTU(local, remote webrtc.ICECandidate) uint32 {
	mtu, probe, why := p.choose(local, remote)
	p.chosen.Store(cmp.Or(mtu, defaultSCTPMTU))
	p.probe.Store(probe)
	p.log.Debug("SCTP packet size", "bytes", p.chosen.Load(), "why", why, "probe", probe,
		"local", local.Address, "remote", remote.Address)
	return mtu
}

// reselect chooses the packet size again after an ICE restart selected a new pair: the old
// path's size may be too big for the new one (a LAN's 1404 bytes behind a NAT or a relay).
func (p *pathMTU) reselect(c *Conn) {
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return
	}
	mtu, probe, why := p.choose(*pair.Local, *pair.Remote)
	mtu = cmp.Or(mtu, defaultSCTPMTU)
	old := p.chosen.Load()
	// A jumbo size is only used where a probe proved it, and only set-up probes (mtuprobe.go):
	// on the same pair it holds, on any other the Ethernet-sized one does. (A probe after the
	// restart could raise it again, since a lost probe costs nothing; not done yet.)
	if pr := p.proven.Load(); probe != 0 && probe == old && pr != nil && *pr == pairKey(*pair.Local, *pair.Remote) {
		mtu, why = probe, why+": the probe proved it on this pair"
	}
	p.probe.Store(0)
	if mtu == old {
		return
	}
	if ok, err := c.pc.SCTP().SetMTU(mtu); !ok || err != nil {
		p.log.Warn("cannot change the SCTP packet size for the new path", "bytes", mtu, "err", err)
		return
	}
	p.chosen.Store(mtu)
	p.log.Info("SCTP packet size changed with the path", "from", old, "to", mtu, "why", why)
}

// choose returns the packet size to start with (0: pion's default) and a bigger one to probe
// for (0: none), and why.
func (p *pathMTU) choose(local, remote webrtc.ICECandidate) (mtu, probe uint32, why string) {
	peer := p.peerMax.Load()
	switch {
	case peer == 0:
		return 0, 0, "the peer did not advertise a datagram size"
	case p.links == nil:
		return 0, 0, "simulated network"
	case !direct(local, remote):
		return 0, 0, "the path crosses a NAT or a relay"
	}
	links, err := p.links()
	if err != nil {
		return 0, 0, "interfaces: " + err.Error()
	}
	remoteIP := net.ParseIP(remote.Address)
	linkMTU, sameMachine, why := onLinkMTU(links, net.ParseIP(local.Address), remoteIP)
	if linkMTU == 0 {
		return 0, 0, why
	}
	header := 20 + 8 // IPv4 + UDP
	if remoteIP.To4() == nil {
		header = 40 + 8
	}
	size := func(linkMTU int) uint32 {
		datagram := min(linkMTU-header, int(peer), maxDatagram)
		mtu := (datagram - dtlsOverhead) &^ 3
		if mtu <= defaultSCTPMTU {
			return 0
		}
		return uint32(mtu)
	}
	if sameMachine {
		mtu = size(linkMTU)
	} else {
		// Our interface's MTU says nothing of the peer's NIC or the switch between, and SCTP
		// has no path-MTU fallback: a jumbo-frame interface on a network where the peer has
		// 1500 would lose every big packet. The peer's advertised link MTU bounds it, and
		// Ethernet's 1500 holds on any directly attached network until a probe proved more.
		// A peer that advertises none (from before the attribute) has no probe channel either.
		pl := int(p.peerLink.Load())
		if pl > 0 {
			linkMTU = min(linkMTU, pl)
		}
		mtu = size(min(linkMTU, ethernetMTU))
		if pl > 0 && linkMTU > ethernetMTU {
			if big := size(linkMTU); big > max(mtu, defaultSCTPMTU) {
				probe = big
			}
		}
	}
	if mtu == 0 {
		return 0, probe, why + ": no bigger than the default"
	}
	return mtu, probe, why
}

func pairKey(local, remote webrtc.ICECandidate) string {
	return local.Address + " " + remote.Address
}

// link is one network interface as far as packet sizing cares.
type link struct {
	mtu      int
	loopback bool
	prefixes []*net.IPNet
}

// links lists the interfaces of the network the session uses: this machine's, or those of a
// real network the config names (a namespace's, in tests); nil for pion's simulated network,
// which then keeps pion's packet size.
func (c *Config) links() func() ([]link, error) {
	switch n := c.Net.(type) {
	case nil:
		return systemLinks
	case *vnet.Net:
		return nil
	default:
		return func() ([]link, error) {
			ifaces, err := n.Interfaces()
			if err != nil {
				return nil, err
			}
			var links []link
			for _, ifc := range ifaces {
				addrs, err := ifc.Addrs()
				if err != nil {
					addrs = nil // pion's error for an interface without an address
				}
				links = appendLink(links, ifc.Interface, addrs)
			}
			return links, nil
		}
	}
}

// systemLinks lists this machine's interfaces that are up.
func systemLinks() ([]link, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var links []link
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		links = appendLink(links, ifc, addrs)
	}
	return links, nil
}

// appendLink adds ifc to links if it is up.
func appendLink(links []link, ifc net.Interface, addrs []net.Addr) []link {
	if ifc.Flags&net.FlagUp == 0 {
		return links
	}
	l := link{mtu: ifc.MTU, loopback: ifc.Flags&net.FlagLoopback != 0}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			l.prefixes = append(l.prefixes, ipn)
		}
	}
	return append(links, l)
}

// onLinkMTU is the MTU of the link between local and remote when no router sits between them:
// the loopback interface's when remote is an address of this machine, else the MTU of the
// interface that holds local when remote is inside that interface's prefix. 0 means unknown;
// sameMachine says which case it was.
func onLinkMTU(links []link, local, remote net.IP) (mtu int, sameMachine bool, why string) {
	if local == nil || remote == nil {
		return 0, false, "an address is not an IP (mDNS)"
	}
	var loopbackMTU, localMTU int
	remoteIsOurs, onLink := false, false
	for _, l := range links {
		if l.loopback {
			loopbackMTU = l.mtu
		}
		for _, p := range l.prefixes {
			if p.IP.Equal(remote) {
				remoteIsOurs = true
			}
			if p.IP.Equal(local) {
				localMTU = l.mtu
				onLink = onLink || p.Contains(remote)
			}
		}
	}
	switch {
	case remoteIsOurs && loopbackMTU > 0:
		return loopbackMTU, true, "the peer is on this machine"
	case onLink && localMTU > 0:
		return localMTU, false, "the peer is on a directly attached network"
	}
	return 0, false, "the peer is beyond a router"
}

// advertise adds the datagram size this end reads, and its link MTU when it knows one, to a
// session description.
func (p *pathMTU) advertise(sdp string) string {
	lines := "a=" + sdpMaxDatagram + ":" + strconv.Itoa(maxDatagram) + "\r\n"
	if p.links != nil {
		if links, err := p.links(); err == nil {
			if m := largestLinkMTU(links); m > 0 {
				lines += "a=" + sdpLinkMTU + ":" + strconv.Itoa(m) + "\r\n"
			}
		}
	}
	if i := strings.Index(sdp, "\r\nm="); i >= 0 {
		return sdp[:i+2] + lines + sdp[i+2:]
	}
	return sdp + lines
}

// largestLinkMTU is the largest MTU of the interfaces with an address, loopback aside, capped
// at 64 KiB; 0 if there is none. One number, not one per address: the description goes out
// before the candidates are gathered, and it names no address the candidates do not. A machine
// with a jumbo-frame interface and a 1500 one says 9000 to a peer on the 1500 network, which
// then chooses by its own interface's 1500 anyway (or, with jumbo frames of its own there,
// probes and finds out).
func largestLinkMTU(links []link) int {
	m := 0
	for _, l := range links {
		if !l.loopback && len(l.prefixes) > 0 {
			m = max(m, min(l.mtu, 1<<16))
		}
	}
	return m
}

// advertisedDatagram reads the peer's datagram size from its session description: 0 when it has
// none or an unreadable one, and never more than 64 KiB.
func advertisedDatagram(sdp string) uint32 { return sessionAttrUint(sdp, sdpMaxDatagram) }

// advertisedLinkMTU reads the peer's link MTU from its session description, as
// advertisedDatagram reads the datagram size.
func advertisedLinkMTU(sdp string) uint32 { return sessionAttrUint(sdp, sdpLinkMTU) }

// sessionAttrUint reads a session-level attribute "a=name:N": 0 when there is none or it is not
// a number, and never more than 64 KiB.
func sessionAttrUint(sdp, name string) uint32 {
	s := bufio.NewScanner(strings.NewReader(sdp))
	prefix := "a=" + name + ":"
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "m=") {
			return 0 // session-level only
		}
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return 0
			}
			return uint32(min(n, 1<<16))
		}
	}
	return 0
}

// SCTPPacketSize is the size of the SCTP packets this end sends (before DTLS): 1191 on most
// paths, 8124 to a peer on this machine, up to 1404 to one on a directly attached network, and up
// to 8124 there when both ends have jumbo frames and a probe got through. 0 until the association
// started.
func (c *Conn) SCTPPacketSize() int { return int(c.mtu.chosen.Load()) }
