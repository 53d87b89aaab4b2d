package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"

	"github.com/deskport/deskport/session"
)

// pathTrace is what -longpath-trace records about one deskport run over a path: packets the vnet
// router delivered against packets each endpoint read (vnet's per-socket queue holds 1024 and
// drops beyond), pion's log lines counted by message (the ingress buffers of ICE and of the
// DTLS/SRTP mux log every packet they drop; SCTP logs fast recovery and T3-rtx timeouts), and a
// timeline of the host's SCTP state. It is for finding what holds a path's throughput, not a
// figure: the logging costs CPU.
type pathTrace struct {
	every time.Duration

	routed, read sync.Map // destination IP → *atomic.Int64

	mu    sync.Mutex
	lines map[string]int // "side: message" → count
}

func newPathTrace(every time.Duration) *pathTrace {
	return &pathTrace{every: every, lines: map[string]int{}}
}

func (t *pathTrace) count(m *sync.Map, ip string) {
	v, _ := m.LoadOrStore(ip, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// filter is a vnet chunk filter that counts what the router delivers and drops nothing.
func (t *pathTrace) filter(c vnet.Chunk) bool {
	if a, ok := c.DestinationAddr().(*net.UDPAddr); ok {
		t.count(&t.routed, a.IP.String())
	}
	return true
}

// net wraps an endpoint's vnet so that its sockets count the datagrams read.
func (t *pathTrace) net(n *vnet.Net, ip string) transport.Net {
	return tracedNet{Net: n, t: t, ip: ip}
}

type tracedNet struct {
	*vnet.Net
	t  *pathTrace
	ip string
}

func (n tracedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return tracedUDPConn{UDPConn: c, n: n}, nil
}

func (n tracedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return tracedPacketConn{PacketConn: c, n: n}, nil
}

type tracedUDPConn struct {
	transport.UDPConn
	n tracedNet
}

func (c tracedUDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	k, a, err := c.UDPConn.ReadFrom(p)
	if err == nil {
		c.n.t.count(&c.n.t.read, c.n.ip)
	}
	return k, a, err
}

func (c tracedUDPConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	k, a, err := c.UDPConn.ReadFromUDP(p)
	if err == nil {
		c.n.t.count(&c.n.t.read, c.n.ip)
	}
	return k, a, err
}

type tracedPacketConn struct {
	net.PacketConn
	n tracedNet
}

func (c tracedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	k, a, err := c.PacketConn.ReadFrom(p)
	if err == nil {
		c.n.t.count(&c.n.t.read, c.n.ip)
	}
	return k, a, err
}

// logger returns a logger for one side's session that counts pion's lines by message.
func (t *pathTrace) logger(side string) *slog.Logger {
	return slog.New(traceHandler{t: t, side: side})
}

type traceHandler struct {
	t    *pathTrace
	side string
}

func (h traceHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h traceHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h traceHandler) WithGroup(string) slog.Handler            { return h }

// Handle keeps the first words of the message, without pion's "[association]" tag and without
// numbers, so that lines of one kind are counted together.
func (h traceHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	if strings.HasPrefix(msg, "[") {
		if i := strings.Index(msg, "] "); i > 0 {
			msg = msg[i+2:]
		}
	}
	if h.side == "host" && (strings.HasPrefix(msg, "T3-rtx timed out") || strings.HasPrefix(msg, "spurious T3-rtx")) {
		fmt.Fprintf(os.Stderr, "    %s  %s: %s\n", time.Now().Format("15:04:05.000"), h.side, msg)
	}
	if strings.HasPrefix(msg, "stats n") { // SCTP's counters at close: keep the value
		h.t.mu.Lock()
		h.t.lines[h.side+": "+msg]++
		h.t.mu.Unlock()
		return nil
	}
	words := strings.Fields(msg)
	var key []string
	for _, w := range words {
		if strings.ContainsAny(w, "0123456789=") || len(key) == 6 {
			break
		}
		key = append(key, w)
	}
	h.t.mu.Lock()
	h.t.lines[h.side+": "+strings.Join(key, " ")]++
	h.t.mu.Unlock()
	return nil
}

// interesting are the log lines worth printing: drops and loss recovery.
var interesting = []string{"full", "fast-recovery", "T3-rtx", "nT3Timeouts", "nSpuriousT3s", "nFastRetrans", "HyStart", "tail-loss"}

// sample prints the host's SCTP state every t.every until stop is closed, then the counts.
func (t *pathTrace) sample(host *session.HostConn, received func() int64, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	start := time.Now()
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	var maxCwnd uint32
	for {
		select {
		case <-stop:
			t.report(maxCwnd)
			return
		case now := <-tick.C:
			s := host.TransportStats()
			maxCwnd = max(maxCwnd, s.SCTP.CongestionWindow)
			fmt.Fprintf(os.Stderr, "    %s %6d ms  received %7.2f MiB  sent %7.2f MiB  cwnd %6d KiB  peer window left %6d KiB  srtt %4.0f ms  min %4d ms  path window %6d KiB  pacing %5.1f MB/s  buffered %6d KiB  tunnel %6d/%6d KiB\n",
				now.Format("15:04:05.000"), now.Sub(start).Milliseconds(), float64(received())/(1<<20), float64(s.SCTP.BytesSent)/(1<<20),
				s.SCTP.CongestionWindow>>10, s.SCTP.ReceiverWindow>>10, s.SCTP.SmoothedRoundTripTime*1000,
				s.MinRTT.Milliseconds(), s.PathWindow>>10, float64(s.PacingRate)/1e6, s.Buffered>>10, s.TunnelBuffered>>10, s.TunnelLimit>>10)
		}
	}
}

func (t *pathTrace) report(maxCwnd uint32) {
	fmt.Fprintf(os.Stderr, "    largest cwnd %d KiB\n", maxCwnd>>10)
	t.routed.Range(func(k, v any) bool {
		var read int64
		if r, ok := t.read.Load(k); ok {
			read = r.(*atomic.Int64).Load()
		}
		routed := v.(*atomic.Int64).Load()
		fmt.Fprintf(os.Stderr, "    to %s: vnet delivered %d packets, the endpoint read %d (%d lost in vnet's socket queue)\n", k, routed, read, routed-read)
		return true
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k := range t.lines {
		for _, s := range interesting {
			if strings.Contains(k, s) {
				keys = append(keys, k)
				break
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(os.Stderr, "    %6d × %s\n", t.lines[k], k)
	}
}
