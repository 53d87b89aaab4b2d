package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/deskport/deskport/turncred"
)

// TestRelayBindsPublicIP runs the rendezvous's TURN relay on a machine with two addresses (a
// network namespace, ice-…, whose interface holds a primary and a secondary address) with
// --public-ip set to the secondary one. A client allocates, and what the relay sends to a peer
// must come from that address, the one in the relayed candidate: from the primary, which the
// kernel picks for a socket on the wildcard address, a peer behind a NAT would drop it. The
// relay's STUN/TURN answers come from it too.
func TestRelayBindsPublicIP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (CI runs as root)")
	}
	var b [2]byte
	rand.Read(b[:])
	r := binary.BigEndian.Uint16(b[:])
	name := fmt.Sprintf("ice-%04x", r)
	subnet := fmt.Sprintf("10.217.%d.", r&0xff)
	outside, primary, public := subnet+"1", subnet+"2", subnet+"3"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ip("link", "add", name, "type", "veth", "peer", "name", name+"p", "netns", name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	ip("addr", "add", outside+"/24", "dev", name)
	ip("link", "set", name, "up")
	ip("-n", name, "addr", "add", primary+"/24", "dev", name+"p")
	ip("-n", name, "addr", "add", public+"/24", "dev", name+"p") // secondary
	ip("-n", name, "link", "set", name+"p", "up")
	ip("-n", name, "link", "set", "lo", "up")

	dir := t.TempDir()
	secret := []byte("relay-bind-test-secret-0123456789")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	rv := startWith(t, nil, []string{"ip", "netns", "exec", name}, "rendezvous", "--listen", primary+":0",
		"--stun-listen", "off", "--turn", "--turn-listen", ":0", "--public-ip", public,
		"--turn-allow-private", "--turn-secret-file", secretFile)
	listening := rv.waitFor(`TURN relay ready.*addr=(\S+)`, 30*time.Second)[1]
	_, port, _ := net.SplitHostPort(listening)
	server := net.JoinHostPort(public, port)
	if listening != server {
		t.Errorf("the relay's UDP socket is on %s, want on --public-ip %s", listening, public)
	}

	peer, err := net.ListenPacket("udp4", outside+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.ListenPacket("udp4", outside+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	user, pass := turncred.Mint(secret, "0123456789abcdef0123456789abcdef", time.Now(), time.Minute)
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass, Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relayed.Close()
	if got := relayed.LocalAddr().(*net.UDPAddr).IP.String(); got != public {
		t.Fatalf("relayed address %v, want on %s", relayed.LocalAddr(), public)
	}
	msg := []byte("through the relay")
	if _, err := relayed.WriteTo(msg, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatalf("the peer got nothing from the relay: %v", err)
	}
	if !bytes.Equal(buf[:n], msg) || from.String() != relayed.LocalAddr().String() {
		t.Fatalf("the peer got %q from %v, want %q from the relayed address %v", buf[:n], from, msg, relayed.LocalAddr())
	}
	// And back: the peer answers the relayed address, and the client reads it.
	if _, err := peer.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	relayed.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := relayed.ReadFrom(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("the client read %q, %v; want \"back\"", buf[:n], err)
	}
}
