package session

import (
	"net"
	"net/netip"
	"testing"
)

// TestWithLinkZone: a direct pair's IPv6 link-local addresses get the zone of the interface
// that holds this end's address; other addresses, and addresses that have a zone, stay.
func TestWithLinkZone(t *testing.T) {
	zones := map[netip.Addr]string{
		netip.MustParseAddr("fe80::1"):        "eth0",
		netip.MustParseAddr("2001:db8::1"):    "eth1",
		netip.MustParseAddr("192.0.2.1"):      "eth2",
		netip.MustParseAddr("fe80::99"):       "", // not this machine's
		netip.MustParseAddr("2001:db8:9::99"): "",
	}
	zoneOf := func(a netip.Addr) string { return zones[a] }
	for _, c := range []struct{ local, remote, wantLocal, wantRemote string }{
		{"fe80::1", "fe80::2", "fe80::1%eth0", "fe80::2%eth0"},
		{"fe80::1", "2001:db8::2", "fe80::1%eth0", "2001:db8::2"},
		{"2001:db8::1", "fe80::2", "2001:db8::1", "fe80::2%eth1"},
		{"fe80::1%wlan0", "fe80::2", "fe80::1%wlan0", "fe80::2%wlan0"},
		{"fe80::1", "fe80::2%eth9", "fe80::1%eth0", "fe80::2%eth9"},
		{"192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2"},
		{"2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2"},
		{"fe80::99", "fe80::2", "fe80::99", "fe80::2"},
	} {
		l, r := withLinkZone(netip.MustParseAddr(c.local), netip.MustParseAddr(c.remote), zoneOf)
		if l.String() != c.wantLocal || r.String() != c.wantRemote {
			t.Errorf("withLinkZone(%s, %s) = %s, %s; want %s, %s", c.local, c.remote, l, r, c.wantLocal, c.wantRemote)
		}
	}
}

// TestInterfaceOf finds the loopback interface by its address, in either form.
func TestInterfaceOf(t *testing.T) {
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			want = ifc.Name
		}
	}
	for _, a := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		if got := interfaceOf(netip.MustParseAddr(a)); got != want {
			t.Errorf("interfaceOf(%s) = %q, want %q", a, got, want)
		}
	}
}
