package sctp

import (
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
)

// connectedUDP is a UDP socket that sends to one peer, as a net.Conn for an association.
type connectedUDP struct {
	*net.UDPConn
	peer net.Addr
}

func (c *connectedUDP) Read(b []byte) (int, error) {
	n, _, err := c.ReadFrom(b)

	return n, err
}

func (c *connectedUDP) Write(b []byte) (int, error) { return c.WriteTo(b, c.peer) }

func (c *connectedUDP) RemoteAddr() net.Addr { return c.peer }

// udpPair connects a client and a server association over loopback UDP.
func udpPair(t *testing.T, clientCfg, serverCfg Config) (client, server *Association) {
	t.Helper()
	ca, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lf := logging.NewDefaultLoggerFactory()
	clientCfg.NetConn, clientCfg.LoggerFactory = &connectedUDP{UDPConn: ca, peer: sa.LocalAddr()}, lf
	serverCfg.NetConn, serverCfg.LoggerFactory = &connectedUDP{UDPConn: sa, peer: ca.LocalAddr()}, lf
	type result struct {
		a   *Association
		err error
	}
	srv := make(chan result, 1)
	go func() {
		a, err := Server(serverCfg)
		srv <- result{a, err}
	}()
	client, err = Client(clientCfg)
	r := <-srv
	if err != nil || r.err != nil {
		t.Fatalf("client: %v, server: %v", err, r.err)
	}
	t.Cleanup(func() { client.Close(); r.a.Close() })

	return client, r.a
}

// TestSsthreshFollowsGrownWindow: a receiver that starts with a small buffer and grows it once
// the association runs (SetMaxReceiveBufferSize) must not leave the sender in congestion
// avoidance: until the first loss, ssthresh follows the larger window the peer advertises.
func TestSsthreshFollowsGrownWindow(t *testing.T) {
	const small, large = 64 << 10, 8 << 20
	client, server := udpPair(t, Config{MinCwnd: 256 << 10}, Config{MaxReceiveBufferSize: small})
	client.lock.RLock()
	before := client.ssthresh
	client.lock.RUnlock()
	if before > small {
		t.Fatalf("ssthresh %d before the window grew, want at most the peer's %d", before, small)
	}
	server.SetMaxReceiveBufferSize(large)

	s, err := client.OpenStream(1, PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs, err := server.AcceptStream()
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := rs.Read(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 16<<10)
	for i := 0; i < 4; i++ { // 64 KiB: a few SACKs carry the new window, no burst to lose
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.BufferedAmount() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	client.lock.RLock()
	after, fromPeer := client.ssthresh, client.ssthreshFromPeerWindow
	client.lock.RUnlock()
	if !fromPeer {
		t.Fatal("64 KiB on loopback took a loss")
	}
	if after < large/2 {
		t.Fatalf("ssthresh %d after the peer grew its window to %d: the sender stays in congestion avoidance", after, large)
	}
	server.Close()
	<-done
}
