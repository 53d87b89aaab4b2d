// Package testaddr gives tests an address of this machine that is not loopback, so that what
// browsers and TLS clients do with a remote server (no secure context over http, certificates
// checked against an IP address) happens as it does across machines. It adds a veth pair named
// https-… (a dummy interface would do, but not every kernel has the module) with a private
// address on one end, and removes it when the test ends; that needs root (CI has it), and
// without it the test is skipped with a message.
package testaddr

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// New adds an interface with an address from 10.213.0.0/16 and returns the address.
func New(t testing.TB) netip.Addr {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to add a network interface with a non-loopback address (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to add a network interface")
	}
	var b [2]byte
	rand.Read(b[:])
	n := binary.BigEndian.Uint16(b[:])
	name := fmt.Sprintf("https-%04x", n)
	addr := netip.AddrFrom4([4]byte{10, 213, byte(n >> 8), byte(n&0xfe) | 1})
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("link", "add", name, "type", "veth", "peer", "name", name+"p"); err != nil {
		t.Fatalf("cannot add a veth pair: %v", err)
	}
	t.Cleanup(func() {
		if err := run("link", "del", name); err != nil {
			t.Errorf("removing %s: %v", name, err)
		}
	})
	if err := run("addr", "add", addr.String()+"/32", "dev", name); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{name, name + "p"} {
		if err := run("link", "set", dev, "up"); err != nil {
			t.Fatal(err)
		}
	}
	return addr
}
