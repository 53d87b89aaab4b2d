package session

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/transport/v5/stdnet"

	"github.com/deskport/deskport/signaling"
)

func prefix(t *testing.T, cidr string) *net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return n
}

func TestOnLinkMTU(t *testing.T) {
	links := []link{
		{mtu: 65536, loopback: true, prefixes: []*net.IPNet{prefix(t, "127.0.0.1/8"), prefix(t, "::1/128")}},
		{mtu: 1500, prefixes: []*net.IPNet{prefix(t, "192.168.1.10/24"), prefix(t, "fd00::10/64")}},
		{mtu: 9000, prefixes: []*net.IPNet{prefix(t, "10.1.0.5/16")}},
	}
	for _, tc := range []struct {
		local, remote string
		want          int
	}{
		{"127.0.0.1", "127.0.0.1", 65536},
		{"::1", "::1", 65536},
		{"192.168.1.10", "192.168.1.10", 65536}, // our own address: the kernel routes it over lo
		{"192.168.1.10", "10.1.0.5", 65536},
		{"192.168.1.10", "192.168.1.77", 1500},
		{"fd00::10", "fd00::99", 1500},
		{"10.1.0.5", "10.1.200.1", 9000},
		{"192.168.1.10", "192.168.2.77", 0}, // beyond a router
		{"192.168.1.10", "203.0.113.9", 0},
		{"192.168.99.1", "192.168.99.2", 0}, // local address not ours (a stale candidate)
	} {
		got, _, why := onLinkMTU(links, net.ParseIP(tc.local), net.ParseIP(tc.remote))
		if got != tc.want {
			t.Errorf("%s → %s: MTU %d (%s), want %d", tc.local, tc.remote, got, why, tc.want)
		}
	}
	if got, _, _ := onLinkMTU(links, net.ParseIP("127.0.0.1"), net.ParseIP("x.local")); got != 0 {
		t.Errorf("an mDNS name gave MTU %d", got)
	}
}

func TestChooseSCTPMTU(t *testing.T) {
	links := func() ([]link, error) {
		return []link{
			{mtu: 65536, loopback: true, prefixes: []*net.IPNet{prefix(t, "127.0.0.1/8")}},
			{mtu: 1500, prefixes: []*net.IPNet{prefix(t, "192.168.1.10/24")}},
			{mtu: 1280, prefixes: []*net.IPNet{prefix(t, "10.8.0.2/24")}},                          // a tunnel
			{mtu: 9000, prefixes: []*net.IPNet{prefix(t, "10.1.0.5/16"), prefix(t, "fd01::5/64")}}, // jumbo frames
		}, nil
	}
	host := func(addr string) webrtc.ICECandidate {
		return webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Address: addr}
	}
	for _, tc := range []struct {
		name          string
		peer          uint32
		peerLink      uint32
		links         func() ([]link, error)
		local, remote webrtc.ICECandidate
		want, probe   uint32
	}{
		{"loopback", maxDatagram, 65536, links, host("127.0.0.1"), host("127.0.0.1"), 8124, 0},
		{"peer reads less", 4000, 0, links, host("127.0.0.1"), host("127.0.0.1"), 3932, 0},
		{"peer advertised nothing (a browser)", 0, 0, links, host("127.0.0.1"), host("127.0.0.1"), 0, 0},
		{"LAN", maxDatagram, 1500, links, host("192.168.1.10"), host("192.168.1.20"), 1404, 0},
		{"LAN, peer from before the link MTU", maxDatagram, 0, links, host("192.168.1.10"), host("192.168.1.20"), 1404, 0},
		{"LAN, peer says jumbo but ours is 1500", maxDatagram, 9000, links, host("192.168.1.10"), host("192.168.1.20"), 1404, 0},
		{"peer-reflexive on the LAN", maxDatagram, 1500, links, host("192.168.1.10"),
			webrtc.ICECandidate{Typ: webrtc.ICECandidateTypePrflx, Address: "192.168.1.20"}, 1404, 0},
		{"tunnel with a small MTU", maxDatagram, 1280, links, host("10.8.0.2"), host("10.8.0.3"), 0, 0},
		{"peer on a small-MTU link", maxDatagram, 1280, links, host("192.168.1.10"), host("192.168.1.20"), 0, 0},
		{"peer with a 1460 link", maxDatagram, 1460, links, host("192.168.1.10"), host("192.168.1.20"), 1364, 0},
		{"jumbo frames here, the peer says nothing", maxDatagram, 0, links, host("10.1.0.5"), host("10.1.7.7"), 1404, 0},
		{"jumbo frames here, 1500 at the peer", maxDatagram, 1500, links, host("10.1.0.5"), host("10.1.7.7"), 1404, 0},
		{"jumbo frames at both ends: probe", maxDatagram, 9000, links, host("10.1.0.5"), host("10.1.7.7"), 1404, 8124},
		{"jumbo frames, the peer's smaller", maxDatagram, 4000, links, host("10.1.0.5"), host("10.1.7.7"), 1404, 3904},
		{"jumbo frames, the peer reads less", 4000, 9000, links, host("10.1.0.5"), host("10.1.7.7"), 1404, 3932},
		{"jumbo frames over IPv6", maxDatagram, 9000, links, host("fd01::5"), host("fd01::7"), 1384, 8124},
		{"our own jumbo-frame address: loopback", maxDatagram, 9000, links, host("192.168.1.10"), host("10.1.0.5"), 8124, 0},
		{"beyond a router", maxDatagram, 9000, links, host("10.1.0.5"), host("198.51.100.4"), 0, 0},
		{"relay", maxDatagram, 9000, links, webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeRelay, Address: "10.1.0.5"}, host("10.1.7.7"), 0, 0},
		{"our server-reflexive address is our own (no NAT)", maxDatagram, 65536, links,
			webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "127.0.0.1", Port: 40001, RelatedAddress: "127.0.0.1", RelatedPort: 40001},
			host("127.0.0.1"), 8124, 0},
		{"our server-reflexive address, translated", maxDatagram, 65536, links,
			webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "127.0.0.1", Port: 40001, RelatedAddress: "127.0.0.1", RelatedPort: 40002},
			host("127.0.0.1"), 0, 0},
		{"server-reflexive", maxDatagram, 9000, links, host("10.1.0.5"),
			webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "10.1.7.7"}, 0, 0},
		{"simulated network", maxDatagram, 9000, nil, host("127.0.0.1"), host("127.0.0.1"), 0, 0},
	} {
		p := &pathMTU{links: tc.links}
		p.peerMax.Store(tc.peer)
		p.peerLink.Store(tc.peerLink)
		got, probe, why := p.choose(tc.local, tc.remote)
		if got != tc.want || probe != tc.probe {
			t.Errorf("%s: %d, probe %d (%s); want %d, probe %d", tc.name, got, probe, why, tc.want, tc.probe)
		}
		for _, size := range []uint32{got, probe} {
			if size != 0 && (size+dtlsOverhead > maxDatagram || size%4 != 0) {
				t.Errorf("%s: %d does not fit a %d-byte datagram in 4-byte units", tc.name, size, maxDatagram)
			}
		}
	}
}

func TestAdvertisedDatagram(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=x-deskport-max-datagram:9999\r\n"
	if got := advertisedDatagram(sdp); got != 0 {
		t.Errorf("a media-level attribute was read: %d", got)
	}
	adv := (&pathMTU{}).advertise(sdp)
	if !strings.Contains(adv, "t=0 0\r\na=x-deskport-max-datagram:8192\r\nm=application") {
		t.Errorf("attribute not at session level:\n%s", adv)
	}
	if got := advertisedDatagram(adv); got != maxDatagram {
		t.Errorf("read back %d, want %d", got, maxDatagram)
	}
	for _, bad := range []string{"a=x-deskport-max-datagram:-1\r\n", "a=x-deskport-max-datagram:lots\r\n", "a=x-deskport-max-datagram:99999999999\r\n"} {
		if got := advertisedDatagram("v=0\r\n" + bad); got != 0 {
			t.Errorf("%q read as %d", bad, got)
		}
	}
	if got := advertisedDatagram("v=0\r\na=x-deskport-max-datagram:4000000\r\n"); got != 1<<16 {
		t.Errorf("a huge size read as %d, want it capped at 65536", got)
	}
}

func TestAdvertisedLinkMTU(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	links := []link{
		{mtu: 65536, loopback: true, prefixes: []*net.IPNet{prefix(t, "127.0.0.1/8")}},
		{mtu: 1500, prefixes: []*net.IPNet{prefix(t, "192.168.1.10/24")}},
		{mtu: 9216}, // no address: not a link to anyone
		{mtu: 9000, prefixes: []*net.IPNet{prefix(t, "10.1.0.5/16")}},
	}
	p := &pathMTU{links: func() ([]link, error) { return links, nil }}
	adv := p.advertise(sdp)
	if !strings.Contains(adv, "t=0 0\r\na=x-deskport-max-datagram:8192\r\na=x-deskport-link-mtu:9000\r\nm=application") {
		t.Errorf("link MTU not advertised at session level:\n%s", adv)
	}
	if got := advertisedLinkMTU(adv); got != 9000 {
		t.Errorf("read back %d, want 9000", got)
	}
	if got := advertisedLinkMTU((&pathMTU{}).advertise(sdp)); got != 0 {
		t.Errorf("a simulated network advertised link MTU %d", got)
	}
	if got := advertisedLinkMTU(sdp + "a=x-deskport-link-mtu:9000\r\n"); got != 0 {
		t.Errorf("a media-level link MTU was read: %d", got)
	}
	if got := largestLinkMTU(links[:1]); got != 0 {
		t.Errorf("loopback alone gave link MTU %d", got)
	}
}

func TestProbeMessages(t *testing.T) {
	probe := probeMsg{kind: probeKindProbe, nonce: 7, length: 8189}
	b := probe.encode()
	if len(b) != 8189 || !isProbe(b) {
		t.Fatalf("probe of %d bytes (ours: %v), want 8189", len(b), isProbe(b))
	}
	if m, err := parseProbe(b); err != nil || m != probe {
		t.Errorf("probe read back as %+v, %v", m, err)
	}
	ack := probeMsg{kind: probeKindAck, nonce: 7, length: 8189}
	if m, err := parseProbe(ack.encode()); err != nil || m != ack || len(ack.encode()) != probeHeaderLen {
		t.Errorf("ack read back as %+v, %v", m, err)
	}
	for name, bad := range map[string][]byte{
		"empty":            nil,
		"short":            probeMagic[:],
		"truncated probe":  b[:1000],
		"ack with padding": append(ack.encode(), 0),
		"unknown kind":     append(append(probeMagic[:], 9), b[5:]...),
		"not ours":         append([]byte{0x16}, b[1:]...), // a DTLS record
	} {
		if _, err := parseProbe(bad); !errors.Is(err, ErrBadProbe) {
			t.Errorf("%s: %v, want ErrBadProbe", name, err)
		}
	}
	// None of what else shares the socket starts like a probe (RFC 9443 demultiplexing).
	for first := range 192 {
		if isProbe([]byte{byte(first), 'd', 'p', 'm'}) {
			t.Errorf("a datagram starting with %d is taken for a probe", first)
		}
	}
}

// TestProbeSockets probes between two real loopback sockets wrapped as a session wraps them: the
// probe is acknowledged with its length, and neither the probe nor the ack reaches the reader
// (ICE), which still gets every other datagram.
func TestProbeSockets(t *testing.T) {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	listen := func() (*probeUDPConn, *udpProbes) {
		p := newUDPProbes()
		c, err := probeNet{Net: pacedNet{Net: n, p: newPacer()}, probes: p}.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c.(*probeUDPConn), p
	}
	a, ap := listen()
	b, _ := listen()
	read := func(c *probeUDPConn) <-chan []byte {
		got := make(chan []byte, 4)
		go func() {
			defer close(got)
			buf := make([]byte, maxDatagram)
			for {
				n, _, err := c.ReadFromAddrPort(buf)
				if err != nil {
					return
				}
				got <- bytes.Clone(buf[:n])
			}
		}()
		return got
	}
	aGot, bGot := read(a), read(b)
	addr := func(c *probeUDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
	if found := ap.find(addr(a)); found != a {
		t.Fatalf("find(%v) = %p, want the socket %p", addr(a), found, a)
	}
	ok, err := ap.confirm(context.Background(), a, addr(b), 8189)
	if err != nil || !ok {
		t.Fatalf("probe over loopback: %v, %v", ok, err)
	}
	if _, err := a.WriteToAddrPort([]byte{0x16, 1, 2}, addr(b)); err != nil {
		t.Fatal(err)
	}
	if got := <-bGot; !bytes.Equal(got, []byte{0x16, 1, 2}) {
		t.Errorf("the reader got %x, want the DTLS-like datagram alone", got)
	}
	a.Close()
	b.Close()
	for range aGot {
		t.Error("the probe's ack reached the reader")
	}
	for range bGot {
		t.Error("the probe reached the reader")
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add(probeMsg{kind: probeKindProbe, nonce: 1, length: 64}.encode())
	f.Add(probeMsg{kind: probeKindAck, nonce: 1, length: 8092}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseProbe(b)
		if err != nil {
			return
		}
		if got := m.encode(); m.kind == probeKindProbe && len(got) != len(b) || m.kind == probeKindAck && !bytes.Equal(got, b) {
			t.Fatalf("%x read as %+v, which encodes as %x", b, m, got)
		}
	})
}

func FuzzAdvertisedDatagram(f *testing.F) {
	f.Add("v=0\r\na=x-deskport-max-datagram:8192\r\nm=application 9\r\n")
	f.Add("a=x-deskport-max-datagram:")
	f.Fuzz(func(t *testing.T, sdp string) {
		if got := advertisedDatagram(sdp); got > 1<<16 {
			t.Fatalf("%d above the cap", got)
		}
		if got := advertisedLinkMTU(sdp); got > 1<<16 {
			t.Fatalf("%d above the cap", got)
		}
	})
}

// stripDatagram removes the datagram attribute from what passes, as a browser's or an older
// deskport's description would be.
type stripDatagram struct{ chanSignaler }

func (s stripDatagram) Send(ctx context.Context, m *signaling.Message) error {
	c := *m
	c.SDP = strings.ReplaceAll(c.SDP, "a="+sdpMaxDatagram+":8192\r\n", "")
	return s.chanSignaler.Send(ctx, &c)
}

// TestSCTPPacketSizeLoopback connects two sessions over real loopback: both ends send 8124-byte
// SCTP packets and a forward is byte-exact; when the viewer's offer lacks the attribute (as a
// browser's does), the host keeps pion's 1191 bytes while the viewer, told the host reads more,
// still sends big ones.
func TestSCTPPacketSizeLoopback(t *testing.T) {
	for _, tc := range []struct {
		name             string
		strip            bool
		viewer, hostSize int
	}{{"both advertise", false, 8124, 8124}, {"viewer's offer without the attribute", true, 8124, defaultSCTPMTU}} {
		t.Run(tc.name, func(t *testing.T) {
			viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, stripViewerOffer: tc.strip})
			if verr != nil || herr != nil {
				t.Fatalf("connect: viewer %v, host %v", verr, herr)
			}
			if got := viewer.SCTPPacketSize(); got != tc.viewer {
				t.Errorf("viewer sends %d-byte SCTP packets, want %d", got, tc.viewer)
			}
			if got := host.SCTPPacketSize(); got != tc.hostSize {
				t.Errorf("host sends %d-byte SCTP packets, want %d", got, tc.hostSize)
			}
			forwardThrough(t, viewer, host, payload(16<<20))
		})
	}
}
