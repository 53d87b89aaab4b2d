package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5"

	"github.com/deskport/deskport/internal/netlab"
)

// mtuLAN is a viewer and a host namespace on one Ethernet segment of jumbo-frame NICs: joined
// by a veth pair directly, or through a switch namespace (a bridge) whose port towards the host
// has MTU 1500, as a switch without jumbo frames has — it drops bigger frames without a word.
type mtuLAN struct {
	viewerNS, hostNS string
	viewerDev        string
	viewer, host     transport.Net
}

const (
	mtuViewerIP = "10.233.0.2"
	mtuHostIP   = "10.233.0.1"
)

func newMTULAN(t *testing.T, viewerMTU, hostMTU int, smallSwitch bool) *mtuLAN {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and veth pairs")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2; scripts/install-deps.sh installs it)")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	l := &mtuLAN{viewerNS: "mtu-" + id + "-v", hostNS: "mtu-" + id + "-h", viewerDev: "mtu-v"}
	nss := []string{l.viewerNS, l.hostNS}
	sw := "mtu-" + id + "-sw"
	if smallSwitch {
		nss = append(nss, sw)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	m, hm := fmt.Sprint(viewerMTU), fmt.Sprint(hostMTU)
	for _, ns := range nss {
		ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() }) // takes its veths along
		ip("-n", ns, "link", "set", "lo", "up")
	}
	if smallSwitch {
		ip("-n", sw, "link", "add", "mtu-br", "type", "bridge")
		ip("link", "add", "name", "mtu-v", "netns", l.viewerNS, "mtu", m, "type", "veth",
			"peer", "name", "mtu-sv", "netns", sw, "mtu", m)
		ip("link", "add", "name", "mtu-h", "netns", l.hostNS, "mtu", hm, "type", "veth",
			"peer", "name", "mtu-sh", "netns", sw, "mtu", "1500")
		for _, port := range []string{"mtu-sv", "mtu-sh"} {
			ip("-n", sw, "link", "set", port, "master", "mtu-br")
			ip("-n", sw, "link", "set", port, "up")
		}
		ip("-n", sw, "link", "set", "mtu-br", "up")
	} else {
		ip("link", "add", "name", "mtu-v", "netns", l.viewerNS, "mtu", m, "type", "veth",
			"peer", "name", "mtu-h", "netns", l.hostNS, "mtu", hm)
	}
	ip("-n", l.viewerNS, "addr", "add", mtuViewerIP+"/24", "dev", "mtu-v")
	ip("-n", l.hostNS, "addr", "add", mtuHostIP+"/24", "dev", "mtu-h")
	ip("-n", l.viewerNS, "link", "set", "mtu-v", "up")
	ip("-n", l.hostNS, "link", "set", "mtu-h", "up")
	var err error
	if l.viewer, err = netlab.NewNet(l.viewerNS); err != nil {
		t.Fatal(err)
	}
	if l.host, err = netlab.NewNet(l.hostNS); err != nil {
		t.Fatal(err)
	}
	return l
}

// rx is what the viewer's NIC received so far: bytes and packets.
func (l *mtuLAN) rx(t *testing.T) (bytes, packets uint64) {
	t.Helper()
	out, err := exec.Command("ip", "-n", l.viewerNS, "-s", "-j", "link", "show", "dev", l.viewerDev).Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	var links []struct {
		Stats struct {
			RX struct {
				Bytes   uint64 `json:"bytes"`
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show: %v: %s", err, out)
	}
	return links[0].Stats.RX.Bytes, links[0].Stats.RX.Packets
}

// TestJumboFramesAcrossNamespaces connects a viewer and a host in two namespaces joined by a
// veth pair of MTU 9000: both ends advertise it, the probe crosses, both send 8124-byte SCTP
// packets, and a forward from the host's side is byte-exact in packets that big on the wire.
func TestJumboFramesAcrossNamespaces(t *testing.T) {
	l := newMTULAN(t, 9000, 9000, false)
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, viewerNet: l.viewer, hostNet: l.host})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if v, h := viewer.SCTPPacketSize(), host.SCTPPacketSize(); v != 8124 || h != 8124 {
		t.Errorf("SCTP packets of %d bytes from the viewer and %d from the host, want 8124 both", v, h)
	}
	b0, p0 := l.rx(t)
	const size = 32 << 20
	forwardThrough(t, viewer, host, payload(size))
	b1, p1 := l.rx(t)
	avg := (b1 - b0) / max(p1-p0, 1)
	t.Logf("the viewer's NIC received %d bytes in %d packets (%d bytes each on average)", b1-b0, p1-p0, avg)
	// The data arrive in packets of about 8 KiB, the viewer's SACKs leave in small ones.
	if b1-b0 < size || avg < 4000 {
		t.Errorf("%d bytes in %d packets arrived, %d on average: the forward did not use jumbo frames", b1-b0, p1-p0, avg)
	}
}

// TestJumboFramesDroppedOnTheWay has jumbo-frame NICs at both ends but a switch between that
// drops frames above 1500 bytes: the probe is lost, both ends keep Ethernet-sized packets, and
// the forward completes byte-exact.
func TestJumboFramesDroppedOnTheWay(t *testing.T) {
	l := newMTULAN(t, 9000, 9000, true)
	began := time.Now()
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, viewerNet: l.viewer, hostNet: l.host})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	t.Logf("connected in %v", time.Since(began).Round(time.Millisecond))
	if v, h := viewer.SCTPPacketSize(), host.SCTPPacketSize(); v != 1404 || h != 1404 {
		t.Errorf("SCTP packets of %d bytes from the viewer and %d from the host, want 1404 both", v, h)
	}
	forwardThrough(t, viewer, host, payload(8<<20))
}

// TestJumboFramesAtOneEnd has a viewer with MTU 9000 and a host with 1500 on one link: the host
// advertises 1500, so neither end probes or sends more than 1404 bytes.
func TestJumboFramesAtOneEnd(t *testing.T) {
	l := newMTULAN(t, 9000, 1500, false)
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, viewerNet: l.viewer, hostNet: l.host})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if v, h := viewer.SCTPPacketSize(), host.SCTPPacketSize(); v != 1404 || h != 1404 {
		t.Errorf("SCTP packets of %d bytes from the viewer and %d from the host, want 1404 both", v, h)
	}
	forwardThrough(t, viewer, host, payload(4<<20))
}

// TestProbeCrossesOnlyAlone sends jumbo-frame probes while the same socket streams small
// datagrams to the same peer, as SCTP does while the probe runs: across a switch that drops
// frames above 1500 bytes none may be acknowledged, across a jumbo-frame link they are. A probe the batch writer joined with the datagrams
// after it into one GSO message left without DF (the kernel sets DF by the message's total
// length, which is above the route's MTU) and whole (veth and bridge pass GSO buffers
// unchecked): the bridge's netfilter refragmented it, or the buffer crossed whole, and the
// host acknowledged a probe no real switch would carry.
func TestProbeCrossesOnlyAlone(t *testing.T) {
	t.Run("small switch", func(t *testing.T) {
		if acked := probesBesideAStream(t, newMTULAN(t, 9000, 9000, true)); acked > 0 {
			t.Errorf("%d of 5 jumbo probes acknowledged across a switch that drops frames above 1500 bytes", acked)
		}
	})
	t.Run("jumbo link", func(t *testing.T) {
		if acked := probesBesideAStream(t, newMTULAN(t, 9000, 9000, false)); acked < 3 {
			t.Errorf("%d of 5 jumbo probes acknowledged across a jumbo-frame link, want 3 at least", acked)
		}
	})
}

// probesBesideAStream runs five probes from the viewer to the host of l while the viewer streams
// Ethernet-sized datagrams to the host, and returns how many were acknowledged.
func probesBesideAStream(t *testing.T, l *mtuLAN) (acked int) {
	listen := func(n transport.Net, ip string) (*probeUDPConn, *udpProbes) {
		t.Helper()
		p := newUDPProbes()
		c, err := probeNet{Net: pacedNet{Net: n, p: newPacer()}, probes: p}.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*probeUDPConn), p
	}
	v, vp := listen(l.viewer, mtuViewerIP)
	h, _ := listen(l.host, mtuHostIP)
	hostAddr := h.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, c := range []*probeUDPConn{v, h} { // reading answers probes and takes in their acks
		go func() {
			buf := make([]byte, maxDatagram)
			for {
				if _, _, err := c.ReadFromAddrPort(buf); err != nil {
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	streamed, running := make(chan int), make(chan struct{})
	go func() { // what SCTP sends meanwhile: Ethernet-sized datagrams, many a millisecond
		small, n := make([]byte, 1000), 0
		defer func() { streamed <- n }()
		for {
			if n == 100 {
				close(running)
			}
			select {
			case <-stop:
				return
			default:
			}
			if _, err := v.WriteToAddrPort(small, hostAddr); err != nil {
				return
			}
			n++
			// About 20 MB/s: the flusher often has datagrams to send, the host reads them all
			// (time.Sleep would wait a millisecond or more, and writes that far apart go out alone).
			for next := time.Now().Add(50 * time.Microsecond); time.Now().Before(next); {
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		close(stop)
		t.Fatalf("the stream beside the probes did not start: %d datagrams in 10 s", <-streamed)
	}
	for range 5 {
		ok, err := vp.confirm(context.Background(), v, hostAddr, 8124+dtlsOverhead)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			acked++
		}
	}
	close(stop)
	t.Logf("%d of 5 probes acknowledged, %d small datagrams streamed beside them", acked, <-streamed)
	return acked
}
