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

// Namespace is a network namespace joined to this one by a veth pair: a second machine on a
// point-to-point link, for servers that a test runs with `ip netns exec`.
type Namespace struct {
	// Name is the namespace's name, for `ip netns exec`.
	Name string
	// Inside is the address of the namespace's end of the link; Outside is this end's.
	Inside, Outside netip.Addr
}

// Command is the argv prefix that runs a program inside the namespace.
func (n *Namespace) Command() []string { return []string{"ip", "netns", "exec", n.Name} }

// NewNamespace creates a namespace named https-… linked to this one over a veth pair with a
// /30 from 10.214.0.0/16, and removes both when the test ends. Root only; skipped otherwise.
func NewNamespace(t testing.TB) *Namespace {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create a network namespace")
	}
	var b [2]byte
	rand.Read(b[:])
	r := binary.BigEndian.Uint16(b[:])
	name := fmt.Sprintf("https-%04x", r)
	base := [4]byte{10, 214, byte(r >> 8), byte(r) &^ 3}
	out, in := base, base
	out[3] |= 1
	in[3] |= 2
	n := &Namespace{Name: name, Inside: netip.AddrFrom4(in), Outside: netip.AddrFrom4(out)}
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() {
		if b, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("removing namespace %s: %v: %s", name, err, b)
		}
	})
	run("link", "add", name, "type", "veth", "peer", "name", name+"p", "netns", name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	run("addr", "add", n.Outside.String()+"/30", "dev", name)
	run("link", "set", name, "up")
	run("-n", name, "addr", "add", n.Inside.String()+"/30", "dev", name+"p")
	run("-n", name, "link", "set", name+"p", "up")
	run("-n", name, "link", "set", "lo", "up")
	return n
}
