package session

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"
	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Transport sizing, measured (docs/session.md): the kernel's default UDP receive buffer (208 KiB)
// overflows under a bulk transfer and every drop stalls SCTP, so every ICE socket asks for 4 MiB
// (the kernel caps this at net.core.rmem_max). The SCTP receive buffer bounds the bytes in flight
// for the whole association: 32 MiB sustains about 150 MB/s at 150 ms RTT even with the RTT
// raised to 200 ms by queues under load, above what one association carries on loopback, so it
// does not cap a long path (16 MiB did, at ≈ 60 MB/s on the 150 ms vnet bench path once
// congestion avoidance grew the window freely: docs/bench.md, "The 150 ms path, 2026-12-05").
// Until the peer has authenticated, the buffer is sctpPreauthReceiveBuffer: whatever a stranger
// sends then waits in at most that much (auth messages are a few KiB; the largest message is
// 64 KiB), and the peer can have no more than that in flight (docs/session.md).
const (
	udpSocketBuffer          = 4 << 20
	sctpReceiveBuffer        = 32 << 20
	sctpPreauthReceiveBuffer = 128 << 10
	sctpMaxMessage           = 64 << 10
	sctpRTOMax               = time.Second
	sctpRTOMin               = 200 * time.Millisecond
	sctpMinCwnd              = 256 << 10
	sctpCwndStep             = 16 << 10
)

// ICE nomination waits (docs/session.md). The viewer, which controls ICE, nominates the best
// pair that has answered a check once that pair's candidate types have waited this long since
// checks began; nomination is final, so these trade set-up time against taking a worse path
// than one that would have answered a moment later. pion pings every pair about every 200 ms and
// picks the highest-priority answered pair. Host and peer-reflexive pairs (a peer-reflexive
// candidate is a NATted peer's address, or a host candidate not yet signaled) are taken at once;
// a server-reflexive one waits one check round, so that on a LAN the host pair, which gets
// bigger packets (mtu.go), wins over the same path seen through a reflexive candidate. A relayed
// pair waits 1 s, about five rounds in which a direct pair across NATs gets through.
// pion's defaults: 0, 500 ms, 1 s, 2 s.
const (
	hostAcceptanceWait  = 0
	srflxAcceptanceWait = 200 * time.Millisecond
	prflxAcceptanceWait = 0
	relayAcceptanceWait = time.Second
	// relayOnlyAcceptanceWait: with --relay-only every pair is relayed; the wait only lets a
	// UDP relay pair validate before a TCP or TLS one is taken (CI saw TCP win at 0).
	relayOnlyAcceptanceWait = 500 * time.Millisecond
)

// Config holds the settings shared by both ends of a session.
type Config struct {
	// ICEServers are the STUN/TURN servers, normally handed out by the rendezvous.
	ICEServers []webrtc.ICEServer
	// RelayOnly uses relayed candidates only (ICETransportPolicy relay): every packet goes
	// through a TURN server, which hides each end's addresses from the other and works where
	// only the relay is reachable. It needs a turn: or turns: server in ICEServers.
	RelayOnly bool
	// LoopbackOnly limits ICE to loopback addresses. Tests use it so that no packet leaves the
	// machine; real users never need it.
	LoopbackOnly bool
	// Net replaces the network stack, for tests over pion's vnet. nil means the real network.
	// On a vnet the session keeps pion's SCTP packet size; any other Net (a network
	// namespace's, internal/netlab.NewNet) counts as real: packet sizing reads its interfaces
	// and its sockets answer the jumbo-frame probe (mtu.go, mtuprobe.go).
	Net transport.Net
	// HandshakeTimeout bounds connection set-up and authentication; zero means 30 seconds.
	HandshakeTimeout time.Duration
	// AuthTimeout bounds the authentication step alone, from the auth channel's opening to
	// the viewer's last message; zero means 10 seconds. Both ends are programs (a code is
	// typed before connecting), so the step takes a few round trips; a stranger who connects
	// and never sends hello is dropped after this instead of after HandshakeTimeout.
	AuthTimeout time.Duration
	// Gate, on the host, caps the sessions that have not authenticated yet (shared by every
	// Accept of the host); nil means no cap.
	Gate *Gate
	// Source is, on the host, the viewer's address as the rendezvous reported it in the
	// offer; Gate counts sessions per source.
	Source string
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Video, when set, carries the screen: the host sends it, the viewer asks for it.
	Video *VideoConfig

	// Restarts, on the host, finds the running session a viewer's ICE restart offer belongs
	// to (shared by every Accept of the host); nil means the host refuses restarts and a
	// viewer that moves loses its session.
	Restarts *Restarts
	// Resignal, on the viewer, opens a new signaling session with the same host, for an ICE
	// restart when the network path dies (docs/session.md, "Moving networks"); a Signaler
	// that is an io.Closer is closed once the new path works. nil means no restarts.
	Resignal func(context.Context) (Signaler, error)
	// OnRestart, on the viewer, hears of every path the session moved to.
	OnRestart func(RestartInfo)
	// NoDirectTCP, on the viewer, keeps bulk streams on the peer connection even on a direct
	// path: no direct TCP lane is offered (lane.go).
	NoDirectTCP bool
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) authTimeout() time.Duration {
	if c.AuthTimeout <= 0 {
		return 10 * time.Second
	}
	return c.AuthTimeout
}

func (c *Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout <= 0 {
		return 30 * time.Second
	}
	return c.HandshakeTimeout
}

// newAPI builds the pion API for one peer connection. A port-forward session negotiates no media,
// so the MediaEngine stays empty; with Video it gets codecs, NACK, RTCP reports and, on the
// sender, congestion control (whose estimators arrive on the returned channel).
func (c *Config) newAPI(mtu *pathMTU, pace *pacer) (*webrtc.API, <-chan cc.BandwidthEstimator, error) {
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	se.SetSCTPMaxReceiveBufferSize(sctpPreauthReceiveBuffer) // grown after authentication
	// pion doubles the retransmission timeout on every loss up to 60 s, so a few losses in a
	// row stall a lossy path for seconds; capping it keeps recovery quick (see docs/session.md).
	se.SetSCTPRTOMax(sctpRTOMax)
	// Both ends are deskport and DTLS already authenticates every record, so the SCTP CRC32c is
	// redundant (RFC 9653 zero checksum, negotiated; a peer that does not offer it keeps CRCs).
	se.EnableSCTPZeroChecksum(true)
	// The largest message a peer may send us: our own writes are at most 64 KiB (the tunnel
	// adapter, mux.TunnelMessage) and auth messages 4 KiB, so 64 KiB bounds what a hostile peer
	// can make us reassemble.
	se.SetSCTPMaxMessageSize(sctpMaxMessage)
	se.SetSCTPMinCwnd(sctpMinCwnd)
	se.SetSCTPFastRtxWnd(sctpMinCwnd)
	se.SetSCTPCwndCAStep(sctpCwndStep)
	// A loss cuts the window to no less than the bandwidth-delay product just measured, and the
	// window grows by a quarter a round trip in congestion avoidance while no queue builds (the
	// carried pion/sctp, tempfork/sctp/DESKPORT.md): random loss on a long path no longer holds
	// it near its floor.
	// 150 ms with 1% loss, 64 MiB: 1.6 -> 4.5-5 MB/s (docs/session.md).
	se.SetSCTPCwndFloorFromDeliveryRate(true)
	// RFC 4960's 1 s minimum RTO stalled a 150 ms lossy path for six round trips whenever a
	// retransmission was lost; 200 ms is Linux TCP's minimum.
	se.SetSCTPRTOMin(sctpRTOMin)
	// HyStart++ (RFC 9406, SetSCTPHyStart in the carried pion/sctp) stays off: on the 150 ms
	// vnet path, where slow start ends in a burst loss in the receiver's 1024-packet socket
	// queue, the RTT of a CPU-bound receiver on a shared machine rose and fell by more than its
	// threshold every few rounds, so it slowed slow start without ending it before the loss
	// (docs/bench.md, "HyStart++ and lost retransmissions").
	// The interactive channel (High) may send up to four packets beyond the congestion window:
	// what it would have on an association of its own, without a second handshake. After a
	// loss cuts the window of a forward on the tunnel channel, a key press no longer waits for
	// the bytes outstanding to fall below it (docs/decisions.md; tempfork/sctp/DESKPORT.md).
	se.SetSCTPUrgentPriority(datachannel.ChannelPriorityHigh)
	// Pacing from the measured delivery rate (SetSCTPPaceFromDeliveryRate in the carried
	// pion/sctp: BBR's gain cycle on the round's delivery rate, and congestion avoidance bounded
	// by twice the measured bandwidth-delay product) stays off: on the 150 ms vnet path it cut
	// the packets lost in the receiver's socket queue in two of three interleaved pairs but moved
	// no figure (medians 27.2, 10.2, 15.8 MB/s against 31.3, 28.3, 16.8 on a machine at load
	// 9-11), and pacing at the delivery rate alone, without the window's rate as a floor, held
	// the association at the rate of its first busy rounds (14-38 MB/s): docs/bench.md, "The
	// 150 ms path paced at the delivery rate". The pacer takes the association's rate when it
	// gives one (pacer.setRate), so trying it again is this one call.
	se.SetSCTPPaceFromDeliveryRate(false)
	// Bigger SCTP packets where the path carries them (mtu.go); read whole datagrams that big.
	se.SetSCTPMTUSelector(mtu.sctpMTU)
	se.SetReceiveMTU(maxDatagram)
	// Loopback candidates only for LoopbackOnly: a peer on another machine cannot use them, and
	// one on this machine reaches our other addresses through the kernel's loopback path anyway
	// (the same 8124-byte packets, mtu.go), so sending them would only tell strangers about
	// ports on this machine.
	se.SetIncludeLoopbackCandidate(c.LoopbackOnly)
	se.SetHostAcceptanceMinWait(hostAcceptanceWait)
	se.SetSrflxAcceptanceMinWait(srflxAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(prflxAcceptanceWait)
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	if c.RelayOnly {
		// Only relayed pairs exist, but TURN over UDP beats TURN over TCP or TLS (higher
		// priority, no head-of-line blocking), and its checks may finish a moment after a
		// TCP allocation's: wait briefly so the UDP pair wins whenever UDP gets through.
		se.SetRelayAcceptanceMinWait(relayOnlyAcceptanceWait)
	} else {
		se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	}
	se.LoggerFactory = slogFactory{l: c.logger()}
	if c.LoopbackOnly {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	// Every socket sends through the connection's pacer (pacer.go).
	// Where packet sizing looks at the network (mtu.go), the sockets also answer the jumbo-frame
	// probe (mtuprobe.go).
	var pn transport.Net
	if c.Net != nil {
		pn = pacedNet{Net: c.Net, p: pace}
	} else {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, nil, err
		}
		pn = pacedNet{Net: bufferedNet{n, c.logger()}, p: pace}
	}
	if mtu.udp != nil {
		pn = probeNet{Net: pn, probes: mtu.udp}
	}
	se.SetNet(pn)
	if c.Video != nil {
		return c.mediaAPI(&se)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&webrtc.MediaEngine{})), nil, nil
}

// bufferedNet is the real network with large UDP socket buffers (sockbuf.go).
type bufferedNet struct {
	*stdnet.Net
	log *slog.Logger
}

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		sizeUDPBuffers(uc, n.log)
	}
	return conn, nil
}

// tcpDialTimeout bounds a TCP connection to a TURN server (turn:…?transport=tcp, turns:).
const tcpDialTimeout = 5 * time.Second

// DialTCP is stdnet's with a timeout. pion dials TURN servers over TCP without one, so a
// firewall that drops the SYN (UDP and TCP 3478 blocked, only TLS on 443 or 5349 let through)
// held candidate gathering — and Close, which waits for it — for the kernel's two minutes:
// TestRelayOverTLSAcrossNamespaces found the host still closing 10 s after SIGTERM.
func (n bufferedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	d := net.Dialer{Timeout: tcpDialTimeout}
	if laddr != nil {
		d.LocalAddr = laddr
	}
	c, err := d.Dial(network, raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (n bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	conn, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		sizeUDPBuffers(uc, n.log)
	}
	return conn, nil
}
