package session

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/transport/v5"
)

// Pacing. pion's SCTP sends whatever its congestion window allows as fast as the CPU goes, so on
// a long path a window of several MiB leaves in one burst and arrives in one burst; a receiver
// that cannot take it that fast (pion's ICE buffer holds 1 MB, the mux's 4 MiB) drops the
// excess, and every such loss halves the window (docs/bench.md, "What holds the 150 ms figure").
// The pacer spreads what the peer connection sends over UDP at pacingGain × cwnd / srtt while a
// bulk transfer runs, as Linux's fq does for TCP, with a burst allowance so that small exchanges
// and short paths are never delayed. (TURN over TCP or TLS is not paced: TCP paces itself.)
// Video shares the bucket: GCC sees the pacer's delay as queueing and lowers the video bitrate
// while a bulk transfer runs, which is what sharing one path should do.
const (
	pacingGain     = 2
	pacingInterval = 10 * time.Millisecond // how often the rate follows cwnd and srtt
	pacingBurst    = 64 << 10              // bytes that may leave at once, at least
	pacingBurstFor = 2 * time.Millisecond  // or this much of the rate, if more
	// pacingMinRTT: below it the path is short enough that bursts do no harm; no pacing.
	pacingMinRTT = 5 * time.Millisecond
	// pacingMinBuffered: with less than this unsent or unacknowledged in SCTP no bulk transfer
	// is running, and nothing is paced — so a video keyframe or a burst of input is never held
	// back by a rate derived from an idle association.
	pacingMinBuffered = 1 << 20
)

// newPacer returns a pacer that paces nothing until follow sets its rate.
func newPacer() *pacer { return &pacer{kick: make(chan struct{}, 1)} }

// pacer is a token bucket shared by every socket of one peer connection.
type pacer struct {
	rate atomic.Uint64 // bytes per second; 0 paces nothing

	// While the association is idle (nothing unsent or unacknowledged, no rate) follow does not
	// poll it: the next packet any socket writes kicks it (idle is set, kick has room for one).
	// A static screen sends a few packets a second; polling 100 times a second cost more than
	// the rest of the connection (docs/bench.md, "Static screen").
	idle atomic.Bool
	kick chan struct{}
	// polls counts follow's looks at the association, for tests.
	polls atomic.Int64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// setRate sets the rate from the association's congestion window, smoothed RTT, the bytes it
// holds unsent or unacknowledged and the pacing rate it asks for (0: none; the carried
// pion/sctp's PacingRate, from the measured delivery rate outside slow start).
func (p *pacer) setRate(cwnd uint32, srtt time.Duration, buffered int, rate uint64) {
	if srtt < pacingMinRTT || cwnd == 0 || buffered < pacingMinBuffered {
		p.rate.Store(0)
		return
	}
	if rate == 0 {
		rate = uint64(pacingGain * float64(cwnd) / srtt.Seconds())
	}
	p.rate.Store(rate)
}

// wait holds a writer of n bytes until the bucket has them.
func (p *pacer) wait(n int) {
	if p.idle.Load() {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	rate := float64(p.rate.Load())
	if rate == 0 {
		return
	}
	p.mu.Lock()
	now := time.Now()
	burst := max(pacingBurst, rate*pacingBurstFor.Seconds())
	if p.last.IsZero() {
		p.tokens = burst
	} else {
		p.tokens = min(p.tokens+now.Sub(p.last).Seconds()*rate, burst)
	}
	p.last = now
	p.tokens -= float64(n)
	var d time.Duration
	if p.tokens < 0 {
		d = time.Duration(-p.tokens / rate * float64(time.Second))
	}
	p.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// follow keeps the rate in step with the association until done is closed: every
// pacingInterval while the association holds data or the rate is set, and otherwise only when a
// socket writes (kick), so that an idle connection costs no timer wake-ups.
func (p *pacer) follow(done <-chan struct{}, pc *webrtc.PeerConnection) {
	p.followWith(done, func() (uint32, time.Duration, int, uint64) {
		sctp := pc.SCTP()
		s := sctp.Stats()
		return s.CongestionWindow, time.Duration(s.SmoothedRoundTripTime * float64(time.Second)), sctp.BufferedAmount(), sctp.PacingRate()
	})
}

// followWith is follow with the association's state from look (cwnd, srtt, bytes buffered, the
// pacing rate it asks for).
func (p *pacer) followWith(done <-chan struct{}, look func() (cwnd uint32, srtt time.Duration, buffered int, rate uint64)) {
	t := time.NewTimer(pacingInterval)
	defer t.Stop()
	defer p.idle.Store(false)
	var last time.Time
	update := func() (busy bool) {
		last = time.Now()
		p.polls.Add(1)
		cwnd, srtt, buffered, rate := look()
		p.setRate(cwnd, srtt, buffered, rate)
		return buffered > 0 || p.rate.Load() != 0
	}
	for {
		select {
		case <-done:
			p.rate.Store(0)
			return
		case <-t.C:
		case <-p.kick:
			// At most one look per pacingInterval however many packets kick: the video of a
			// changing screen writes dozens a second.
			if wait := pacingInterval - time.Since(last); wait > 0 {
				p.idle.Store(false)
				t.Reset(wait)
				continue
			}
		}
		p.idle.Store(false)
		busy := update()
		if !busy {
			// Idle from now on; a write between the look above and this store has not kicked,
			// so look once more after it.
			p.idle.Store(true)
			if busy = update(); busy {
				p.idle.Store(false)
			}
		}
		if busy {
			t.Reset(pacingInterval)
		} else {
			t.Stop()
		}
	}
}

// pacedNet is a network whose UDP sockets send through a pacer.
type pacedNet struct {
	transport.Net
	p *pacer
}

func (n pacedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil || (laddr != nil && laddr.IP.IsMulticast()) {
		// pion's mDNS socket stays unwrapped: x/net/ipv4 and ipv6 join multicast groups only on
		// a *net.UDPConn, and it carries nothing worth pacing.
		return conn, err
	}
	c := &pacedUDPConn{UDPConn: conn, p: n.p}
	if u, ok := conn.(*net.UDPConn); ok {
		c.batch = newBatchReader(u, network)  // nil where recvmmsg does not exist
		c.wbatch = newBatchWriter(u, network) // nil where sendmmsg does not exist, or switched off
	}
	return c, nil
}

func (n pacedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	conn, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return pacedPacketConn{PacketConn: conn, p: n.p}, nil
}

// pacedUDPConn is the socket wrapper every pion UDP socket of a session is: it paces writes
// (pacer) and, on Linux, reads datagrams in batches (udpbatch_linux.go) and writes them in
// batches (udpbatchwrite_linux.go).
type pacedUDPConn struct {
	transport.UDPConn
	p      *pacer
	batch  *batchReader // nil: plain reads
	wbatch *batchWriter // nil: plain writes
}

// ReadFromAddrPort and WriteToAddrPort keep pion/ice on its allocation-free path
// (ice.AddrPortReaderWriter), which it takes only for a bare *net.UDPConn or a conn with these.
// pion's ICE reads through ReadFromAddrPort only, so that is where the batch is.
func (c *pacedUDPConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.batch != nil {
		return c.batch.read(b)
	}
	if u, ok := c.UDPConn.(*net.UDPConn); ok {
		return u.ReadFromUDPAddrPort(b)
	}
	n, addr, err := c.UDPConn.ReadFromUDP(b)
	if addr == nil {
		return n, netip.AddrPort{}, err
	}
	return n, addr.AddrPort(), err
}

// Close closes the socket; a read after it fails even while datagrams of a batch remain, and
// datagrams queued for the batch writer leave before the socket closes.
func (c *pacedUDPConn) Close() error {
	if c.batch != nil {
		c.batch.close()
	}
	if c.wbatch != nil {
		c.wbatch.close()
	}
	return c.UDPConn.Close()
}

// The pacer holds a writer before its datagram is queued, so that pacing is what it was; the
// batch writer only changes how the datagrams it lets through reach the kernel. Writes that do
// not go through the batch writer wait until it has sent what queued, to keep the order.
func (c *pacedUDPConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.p.wait(len(b))
	if c.wbatch != nil {
		return c.wbatch.write(b, addr)
	}
	if u, ok := c.UDPConn.(*net.UDPConn); ok {
		return u.WriteToUDPAddrPort(b, addr)
	}
	return c.UDPConn.WriteToUDP(b, net.UDPAddrFromAddrPort(addr))
}

// writeAlone sends b as a datagram of its own, one sendto beside the batch writer, never joined
// with other datagrams into one GSO message: the kernel sets DF on a message by its total
// length, so a GSO message longer than the route's MTU leaves without DF and a router, or a Linux
// bridge with br_netfilter, fragments its datagrams instead of dropping them; and veth and bridge
// pass a GSO buffer whole, uncut. The jumbo-frame probe (mtuprobe.go) must cross as the packets
// it stands for would, or not at all. It does not wait for what the batch writer holds: order
// does not matter to a probe.
func (c *pacedUDPConn) writeAlone(b []byte, addr netip.AddrPort) (int, error) {
	c.p.wait(len(b))
	if u, ok := c.UDPConn.(*net.UDPConn); ok {
		return u.WriteToUDPAddrPort(b, addr)
	}
	return c.UDPConn.WriteToUDP(b, net.UDPAddrFromAddrPort(addr))
}

func (c *pacedUDPConn) Write(b []byte) (int, error) {
	c.p.wait(len(b))
	if c.wbatch != nil {
		c.wbatch.drain()
	}
	return c.UDPConn.Write(b)
}

func (c *pacedUDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.p.wait(len(b))
	if c.wbatch != nil {
		if ua, ok := addr.(*net.UDPAddr); ok {
			return c.wbatch.write(b, ua.AddrPort())
		}
		c.wbatch.drain()
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *pacedUDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	c.p.wait(len(b))
	if c.wbatch != nil && addr != nil {
		return c.wbatch.write(b, addr.AddrPort())
	}
	return c.UDPConn.WriteToUDP(b, addr)
}

func (c *pacedUDPConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	c.p.wait(len(b))
	if c.wbatch != nil {
		c.wbatch.drain()
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

type pacedPacketConn struct {
	net.PacketConn
	p *pacer
}

func (c pacedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.p.wait(len(b))
	return c.PacketConn.WriteTo(b, addr)
}
