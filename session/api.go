package session

import (
	"log/slog"
	"net"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Transport sizing, measured (docs/session.md): the kernel's default UDP receive buffer (208 KiB)
// overflows under a bulk transfer and every drop stalls SCTP, so every ICE socket asks for 4 MiB
// (the kernel caps this at net.core.rmem_max). The SCTP receive buffer bounds the bytes in flight
// for the whole association: 16 MiB sustains about 110 MB/s at 150 ms RTT, above what one
// association carries on loopback, so it does not cap a long path (8 MiB did: ≈ 55 MB/s).
const (
	udpSocketBuffer   = 4 << 20
	sctpReceiveBuffer = 16 << 20
	sctpMaxMessage    = 64 << 10
	sctpRTOMax        = time.Second
	sctpMinCwnd       = 256 << 10
	sctpCwndStep      = 16 << 10
)

// Config holds the settings shared by both ends of a session.
type Config struct {
	// ICEServers are the STUN/TURN servers, normally handed out by the rendezvous.
	ICEServers []webrtc.ICEServer
	// LoopbackOnly limits ICE to loopback addresses. Tests use it so that no packet leaves the
	// machine; real users never need it.
	LoopbackOnly bool
	// Net replaces the network stack, for tests over pion's vnet. nil means the real network.
	Net transport.Net
	// HandshakeTimeout bounds connection set-up and authentication; zero means 30 seconds.
	HandshakeTimeout time.Duration
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Video, when set, carries the screen: the host sends it, the viewer asks for it.
	Video *VideoConfig
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
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
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	// pion doubles the retransmission timeout on every loss up to 60 s, so a few losses in a
	// row stall a lossy path for seconds; capping it keeps recovery quick (see docs/session.md).
	se.SetSCTPRTOMax(sctpRTOMax)
	// Both ends are deskport and DTLS already authenticates every record, so the SCTP CRC32c is
	// redundant (RFC 9653 zero checksum, negotiated; a peer that does not offer it keeps CRCs).
	se.EnableSCTPZeroChecksum(true)
	// The largest message a peer may send us: our own writes are 16 KiB (the tunnel adapter)
	// and auth messages 4 KiB, so 64 KiB bounds what a hostile peer can make us reassemble.
	se.SetSCTPMaxMessageSize(sctpMaxMessage)
	se.SetSCTPMinCwnd(sctpMinCwnd)
	se.SetSCTPFastRtxWnd(sctpMinCwnd)
	se.SetSCTPCwndCAStep(sctpCwndStep)
	// Bigger SCTP packets where the path carries them (mtu.go); read whole datagrams that big.
	se.SetSCTPMTUSelector(mtu.sctpMTU)
	se.SetReceiveMTU(maxDatagram)
	se.SetIncludeLoopbackCandidate(true)
	se.LoggerFactory = slogFactory{l: c.logger()}
	if c.LoopbackOnly {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	// Every socket sends through the connection's pacer (pacer.go).
	if c.Net != nil {
		se.SetNet(pacedNet{Net: c.Net, p: pace})
	} else {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, nil, err
		}
		se.SetNet(pacedNet{Net: bufferedNet{n}, p: pace})
	}
	if c.Video != nil {
		return c.mediaAPI(&se)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&webrtc.MediaEngine{})), nil, nil
}

// bufferedNet is the real network with large UDP socket buffers.
type bufferedNet struct{ *stdnet.Net }

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(udpSocketBuffer)
		_ = uc.SetWriteBuffer(udpSocketBuffer)
	}
	return conn, nil
}

func (n bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	conn, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(udpSocketBuffer)
		_ = uc.SetWriteBuffer(udpSocketBuffer)
	}
	return conn, nil
}
