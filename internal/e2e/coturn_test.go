package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/deskport/deskport/turncred"
)

// freeUDPTCPPort finds a loopback port free for both UDP and TCP. coturn takes a port number,
// not a socket, so there is a window between this check and its bind; a collision makes
// turnserver fail at start, which the test reports as such.
func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// TestCoturnInterop hands out credentials for an external coturn (use-auth-secret) from the
// rendezvous's --turn-secret-file, and runs a real relayed session through that coturn: both
// ends --relay-only, the 64 MiB blob byte-exact through -L. The rendezvous runs no relay of
// its own, so the only relay candidates are coturn's.
func TestCoturnInterop(t *testing.T) {
	turnserver, err := exec.LookPath("turnserver")
	if err != nil {
		t.Skip("coturn's turnserver is not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	const secret = "coturn-interop-secret-0123456789"
	secretFile := filepath.Join(dir, "turn-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeUDPTCPPort(t)
	cot := start(t, turnserver, "-n", "--log-file", "stdout", "--simple-log", "-v",
		"--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", strconv.Itoa(port),
		"--use-auth-secret", "--static-auth-secret", secret, "--realm", "deskport.test",
		"--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers",
		"--pidfile", filepath.Join(dir, "turnserver.pid"))
	cot.waitFor(`(?i)listener opened on.*127\.0\.0\.1:`+strconv.Itoa(port), 30*time.Second)

	// The scheme matches coturn's: a fresh minted credential allocates, an expired one is
	// refused.
	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	user, pass := turncred.Mint([]byte(secret), "interop", time.Now(), time.Minute)
	if err := coturnAllocate(server, user, pass); err != nil {
		t.Fatalf("coturn refused fresh credentials: %v", err)
	}
	user, pass = turncred.Mint([]byte(secret), "interop", time.Now().Add(-time.Hour), time.Minute)
	if err := coturnAllocate(server, user, pass); err == nil {
		t.Fatal("coturn accepted expired credentials")
	}

	url := fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port)
	w := newWorldWith(t, "--stun-listen", "off", "--turn-secret-file", secretFile, "--ice-server", url)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String(), "--relay-only")
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String(), "--relay-only")
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	begin := time.Now()
	if got := curlSum(t, "http://"+local+"/blob"); got != blobSum {
		t.Fatalf("-L through coturn: SHA-256 %s, want %s", got, blobSum)
	}
	t.Logf("64 MiB through coturn in %v (%.1f MB/s)", time.Since(begin), float64(blobSize)/time.Since(begin).Seconds()/1e6)
	v.waitFor(`connected to host .*path relay/relay via TURN over UDP`, 10*time.Second)
	w.host.waitFor(`viewer connected.*path="relay/relay via TURN over UDP"`, 10*time.Second)
	// coturn took the rendezvous's REST username (expiry:session) and allocated for it.
	cot.waitFor(`(?i)user <\d+:[0-9a-f]{32}>.*ALLOCATE processed, success`, 10*time.Second)
}

// coturnAllocate makes one allocation at server with a pion TURN client, and releases it.
func coturnAllocate(server, user, pass string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass, Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		return err
	}
	rc, err := c.Allocate()
	if err != nil {
		return err
	}
	return rc.Close()
}
