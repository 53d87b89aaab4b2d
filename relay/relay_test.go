package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/turncred"
)

var secret = []byte("0123456789abcdef-test")

func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// startRelay serves cfg on loopback sockets and returns the UDP address.
func startRelay(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.UDP = udp
	if cfg.TURN {
		cfg.Secret = secret
		cfg.RelayIP = netip.MustParseAddr("127.0.0.1")
		cfg.RelayBind = netip.MustParseAddr("127.0.0.1")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, udp.LocalAddr().String()
}

// client is a pion TURN client over its own UDP socket (or conn, when given).
func client(t *testing.T, server, user, pass string, conn net.PacketConn) *turn.Client {
	t.Helper()
	if conn == nil {
		var err error
		if conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass, Conn: conn, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// allocate allocates and closes the allocation when the test ends.
func allocate(t *testing.T, c *turn.Client) (net.PacketConn, error) {
	t.Helper()
	rc, err := c.Allocate()
	if err == nil {
		t.Cleanup(func() { rc.Close() })
	}
	return rc, err
}

func mint(user string, ttl time.Duration) (string, string) {
	return turncred.Mint(secret, user, time.Now(), ttl)
}

// TestSTUNOnly checks that without TURN the server answers binding requests with the client's
// address and refuses allocations even with valid credentials.
func TestSTUNOnly(t *testing.T) {
	leakCheck(t)
	_, addr := startRelay(t, Config{})
	u, p := mint("s", time.Minute)
	c := client(t, addr, u, p, nil)
	mapped, err := c.SendBindingRequest()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
		t.Fatalf("mapped address %v", mapped)
	}
	if _, err := allocate(t, c); err == nil {
		t.Fatal("a STUN-only server granted an allocation")
	}
}

// TestCredentials checks that the relay takes fresh REST credentials, and refuses expired ones,
// wrong passwords, and usernames of another form.
func TestCredentials(t *testing.T) {
	leakCheck(t)
	s, addr := startRelay(t, Config{TURN: true})
	u, p := mint("sess1", time.Minute)
	if _, err := allocate(t, client(t, addr, u, p, nil)); err != nil {
		t.Fatalf("valid credentials refused: %v", err)
	}
	expU, expP := turncred.Mint(secret, "sess2", time.Now().Add(-time.Hour), time.Minute)
	for _, tc := range []struct{ name, user, pass string }{
		{"expired", expU, expP},
		{"wrong password", u, "AAAA" + p[4:]},
		{"not REST", "alice", turncred.Password(secret, "alice")},
		{"other secret", u, turncred.Password([]byte("another-secret-of-16"), u)},
	} {
		if _, err := allocate(t, client(t, addr, tc.user, tc.pass, nil)); err == nil {
			t.Errorf("%s: allocation granted", tc.name)
		}
	}
	if n := s.Allocations(); n != 1 {
		t.Fatalf("%d allocations, want 1", n)
	}
}

// TestPeerFilter checks that permissions to loopback, private, CGNAT, link-local and metadata
// peers are refused, a public peer is allowed, and AllowPrivate lifts the filter.
func TestPeerFilter(t *testing.T) {
	leakCheck(t)
	_, addr := startRelay(t, Config{TURN: true})
	u, p := mint("sess", time.Minute)
	c := client(t, addr, u, p, nil)
	if _, err := allocate(t, c); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0.0.0.0"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(peer), Port: 9}); err == nil {
			t.Errorf("permission to %s granted", peer)
		}
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("192.0.2.200").To4(), Port: 9}); err != nil {
		// 192.0.2.0/24 is documentation space but routable as far as the filter cares.
		t.Errorf("permission to a public address refused: %v", err)
	}

	_, addr2 := startRelay(t, Config{TURN: true, AllowPrivate: true})
	c2 := client(t, addr2, u, p, nil)
	if _, err := allocate(t, c2); err != nil {
		t.Fatal(err)
	}
	if err := c2.CreatePermission(&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9}); err != nil {
		t.Errorf("AllowPrivate: permission to loopback refused: %v", err)
	}
}

func TestPeerAllowed(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"203.0.113.9", true}, {"2606:4700::1111", true}, {"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true},
		{"127.0.0.1", false}, {"127.255.0.1", false}, {"::1", false}, {"::ffff:127.0.0.1", false},
		{"10.0.0.1", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.0.1", false},
		{"100.64.0.1", false}, {"100.127.255.254", false}, {"169.254.169.254", false}, {"169.254.1.1", false},
		{"fd00:ec2::254", false}, {"fc00::1", false}, {"fe80::1", false}, {"fe80::1%eth0", false},
		{"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"255.255.255.255", false}, {"ff02::1", false},
		{"64:ff9b::a00:1", false}, {"64:ff9b::7f00:1", false}, {"::ffff:169.254.169.254", false},
		{"172.32.0.1", true}, {"100.128.0.1", true}, {"11.0.0.1", true},
	} {
		if got := PeerAllowed(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("PeerAllowed(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// TestAllocationQuota checks that one credential holds at most MaxAllocations, and that a
// closed allocation frees its place.
func TestAllocationQuota(t *testing.T) {
	leakCheck(t)
	s, addr := startRelay(t, Config{TURN: true, MaxAllocations: 2})
	u, p := mint("sess", time.Minute)
	var conns []net.PacketConn
	for i := range 2 {
		rc, err := allocate(t, client(t, addr, u, p, nil))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		conns = append(conns, rc)
	}
	if _, err := allocate(t, client(t, addr, u, p, nil)); err == nil {
		t.Fatal("a third allocation was granted")
	}
	other, op := mint("other", time.Minute)
	if _, err := allocate(t, client(t, addr, other, op, nil)); err != nil {
		t.Fatalf("another credential refused: %v", err)
	}
	conns[0].Close() // a Refresh with lifetime 0: the server deletes the allocation
	var err error
	for range 50 { // the deletion is asynchronous on the server; each try is a full request
		if _, err = allocate(t, client(t, addr, u, p, nil)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no allocation after one was closed: %v", err)
	}
	_ = s
}

// TestBandwidthQuota floods a relayed allocation from a peer in batches and checks that the
// relay delivers no more than the credential's budget and drops the rest.
func TestBandwidthQuota(t *testing.T) {
	leakCheck(t)
	const bitrate = 800_000 // 100 kB/s; burst max(25 kB, 64 KiB) = 64 KiB
	drops := make(chan struct{}, 4096)
	_, addr := startRelay(t, Config{TURN: true, AllowPrivate: true, MaxBitrate: bitrate, testHookDrop: func() { drops <- struct{}{} }})
	u, p := mint("sess", time.Minute)
	start := time.Now() // the budget counts from before the allocation
	rc, err := allocate(t, client(t, addr, u, p, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The peer is not on the relay's own address (127.0.0.1), whose packets are charged when
	// the sending allocation writes them.
	peer, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := rc.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil { // installs the permission
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := peer.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 4096)
	go func() {
		b := make([]byte, 2048)
		for {
			n, _, err := rc.ReadFrom(b)
			if err != nil {
				close(got)
				return
			}
			got <- n
		}
	}()
	const packet, batches, perBatch = 1000, 10, 40
	delivered, dropped := 0, 0
	msg := make([]byte, packet)
	for range batches {
		for range perBatch {
			if _, err := peer.WriteTo(msg, rc.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		// Wait until the relay has delivered or dropped every packet of the batch, so that no
		// socket buffer overflows and every packet is accounted for.
		for n := 0; n < perBatch; n++ {
			select {
			case b := <-got:
				delivered += b
			case <-drops:
				dropped++
			case <-time.After(5 * time.Second):
				t.Fatalf("batch stalled: %d bytes delivered, %d dropped", delivered, dropped)
			}
		}
	}
	elapsed := time.Since(start)
	budget := 64<<10 + int(elapsed.Seconds()*bitrate/8) + packet
	t.Logf("%d bytes sent in %v: %d delivered (budget %d), %d packets dropped", batches*perBatch*packet, elapsed, delivered, budget, dropped)
	if delivered > budget {
		t.Fatalf("delivered %d bytes, over the %d-byte budget", delivered, budget)
	}
	if dropped == 0 || delivered == 0 {
		t.Fatalf("delivered %d bytes, dropped %d packets: the limit did not act", delivered, dropped)
	}
	rc.Close()
}

// TestTURNOverTCPAndTLS allocates over TURN/TCP and TURN/TLS (a certificate from a test CA).
func TestTURNOverTCPAndTLS(t *testing.T) {
	leakCheck(t)
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := testCert(t)
	startRelay(t, Config{TURN: true, TCP: tcp, TLS: tlsLn, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	u, p := mint("sess", time.Minute)

	tc, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, client(t, tcp.Addr().String(), u, p, turn.NewSTUNConn(tc))); err != nil {
		t.Fatalf("TURN over TCP: %v", err)
	}
	tlc, err := tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, client(t, tlsLn.Addr().String(), u, p, turn.NewSTUNConn(tlc))); err != nil {
		t.Fatalf("TURN over TLS: %v", err)
	}
	if _, err := tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{ServerName: "relay.test"}); err == nil || !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Fatalf("a client without the test CA: %v", err)
	}
}

// testCert makes a CA and a certificate for relay.test signed by it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deskport test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "relay.test"}, DNSNames: []string{"relay.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestRelayPortRange checks that relay sockets take ports of the configured range only, and
// that a full range refuses the allocation instead of going outside it.
func TestRelayPortRange(t *testing.T) {
	leakCheck(t)
	// Find two adjacent free ports for the range.
	var lo int
	for range 50 {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		a.Close()
		if err == nil && p+1 <= 65535 {
			b.Close()
			lo = p
			break
		}
	}
	if lo == 0 {
		t.Skip("no two adjacent free UDP ports")
	}
	_, addr := startRelay(t, Config{TURN: true, MinPort: uint16(lo), MaxPort: uint16(lo + 1)})
	u, p := mint("sess", time.Minute)
	got := map[int]bool{}
	for i := range 2 {
		rc, err := allocate(t, client(t, addr, u, p, nil))
		if err != nil {
			t.Fatalf("allocation %d in %d-%d: %v", i, lo, lo+1, err)
		}
		port := rc.LocalAddr().(*net.UDPAddr).Port
		if port != lo && port != lo+1 {
			t.Fatalf("relay port %d outside %d-%d", port, lo, lo+1)
		}
		got[port] = true
	}
	if len(got) != 2 {
		t.Fatalf("ports %v", got)
	}
	if _, err := allocate(t, client(t, addr, u, p, nil)); err == nil {
		t.Fatal("an allocation beyond a full port range was granted")
	}
}

// TestStats relays a datagram each way through a real allocation and checks the totals the
// rendezvous exports, before and after the allocation closes.
func TestStats(t *testing.T) {
	leakCheck(t)
	closed := make(chan struct{}, 1)
	s, addr := startRelay(t, Config{TURN: true, AllowPrivate: true, testHookClosed: func() { closed <- struct{}{} }})
	u, p := mint("sess", time.Minute)
	rc, err := allocate(t, client(t, addr, u, p, nil))
	if err != nil {
		t.Fatal(err)
	}
	expU, expP := turncred.Mint(secret, "old", time.Now().Add(-time.Hour), time.Minute)
	if _, err := allocate(t, client(t, addr, expU, expP, nil)); err == nil {
		t.Fatal("expired credentials granted")
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	rc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.WriteTo([]byte("hello peer"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello peer" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if _, err := peer.WriteTo([]byte("hi client!!!"), from); err != nil {
		t.Fatal(err)
	}
	if n, _, err := rc.ReadFrom(buf); err != nil || string(buf[:n]) != "hi client!!!" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	st := s.Stats()
	if st.Allocations != 1 || st.AllocationsTotal != 1 || st.BytesToPeers != 10 || st.BytesFromPeers != 12 || st.RefusedCredentials == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The totals outlive the allocation. The server closes a released allocation's socket
	// after it has answered the release, so the test waits for that close.
	rc.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay socket was not closed after the release")
	}
	st = s.Stats()
	if st.Allocations != 0 || st.AllocationsTotal != 1 || st.BytesToPeers != 10 || st.BytesFromPeers != 12 {
		t.Fatalf("after close: %+v", st)
	}
}
