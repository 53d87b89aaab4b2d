package relay

import (
	"net/netip"
)

// blockedPrefixes are the peer addresses a public relay must never send to: they name machines
// inside the relay's own network (or the relay itself), which a stranger holding credentials
// could otherwise reach through it — the classic TURN server-side request forgery.
var blockedPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",      // "this network"; 0.0.0.0 reaches the local host on Linux
		"10.0.0.0/8",     // RFC 1918
		"100.64.0.0/10",  // RFC 6598 shared address space (carrier-grade NAT)
		"127.0.0.0/8",    // loopback
		"169.254.0.0/16", // link-local, including cloud metadata at 169.254.169.254
		"172.16.0.0/12",  // RFC 1918
		"192.0.0.0/24",   // IETF protocol assignments
		"192.168.0.0/16", // RFC 1918
		"198.18.0.0/15",  // benchmarking
		"224.0.0.0/4",    // multicast
		"240.0.0.0/4",    // reserved, and 255.255.255.255 broadcast
		"::/128",         // unspecified
		"::1/128",        // loopback
		"fc00::/7",       // unique local (ULA), including fd00:ec2::254 (AWS metadata)
		"fe80::/10",      // link-local
		"fec0::/10",      // deprecated site-local
		"ff00::/8",       // multicast
		"100::/64",       // discard-only
		"2001:db8::/32",  // documentation
		"64:ff9b:1::/48", // local-use NAT64
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// nat64 is the well-known NAT64 prefix: its addresses carry an IPv4 address in their last 32 bits,
// which a NAT64 gateway on the relay's network would reach.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PeerAllowed reports whether a relay may exchange packets with ip when private peers are not
// allowed: public unicast addresses only. IPv4-mapped IPv6 and NAT64 addresses are judged by the
// IPv4 address they carry.
func PeerAllowed(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
