package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up a host name. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Checker decides whether a forward target is allowed and returns the exact address to dial.
// The caller must dial that address and never resolve the target again.
type Checker interface {
	Check(ctx context.Context, target string) (netip.AddrPort, error)
}

// ListenChecker decides whether the host may listen at addr for a reverse forward and returns
// the exact address to listen on.
type ListenChecker interface {
	CheckListen(addr string) (netip.AddrPort, error)
}

// Rule is one --allow entry: a single address, a CIDR block or a host name, with a port range.
type Rule struct {
	// Name is the lower-case host name without a trailing dot, or "" for address rules.
	Name string
	// Prefix is the allowed block (a /32 or /128 for a single address); invalid for name rules.
	Prefix netip.Prefix
	// Addrs are the addresses Name resolved to when the policy was built.
	Addrs []netip.Addr
	// PortLo and PortHi bound the allowed ports, inclusive.
	PortLo, PortHi uint16
}

// String formats the rule the way ParseRule reads it.
func (r Rule) String() string {
	var host string
	switch {
	case r.Name != "":
		host = r.Name
	case r.Prefix.IsSingleIP():
		host = r.Prefix.Addr().String()
		if r.Prefix.Addr().Is6() {
			host = "[" + host + "]"
		}
	case r.Prefix.Addr().Is6():
		host = "[" + r.Prefix.String() + "]"
	default:
		host = r.Prefix.String()
	}
	if r.PortLo == r.PortHi {
		return fmt.Sprintf("%s:%d", host, r.PortLo)
	}
	return fmt.Sprintf("%s:%d-%d", host, r.PortLo, r.PortHi)
}

func (r Rule) portOK(port uint16) bool { return port >= r.PortLo && port <= r.PortHi }

// match reports whether the rule allows address a, reached as name (empty for an address
// target), on port. A name rule matches the name itself or the addresses it resolved to when
// the policy was built, but never an internal address (see internalAddr) unless it is a
// localhost name, which reaches loopback and nothing else.
func (r Rule) match(name string, a netip.Addr, port uint16) bool {
	if !r.portOK(port) {
		return false
	}
	if r.Prefix.IsValid() {
		return r.Prefix.Contains(a)
	}
	if !r.reaches(a) {
		return false
	}
	return name != "" && r.Name == name || slices.Contains(r.Addrs, a)
}

// reaches reports whether name rule r may lead to address a at all.
func (r Rule) reaches(a netip.Addr) bool {
	if isLocalhostName(r.Name) {
		return a.IsLoopback()
	}
	return !internalAddr(a)
}

// isLocalhostName reports whether name is localhost or under .localhost (RFC 6761), names
// that mean loopback by definition.
func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// metadataAddrs are the cloud instance-metadata endpoints: whoever reaches them gets the
// machine's credentials. 169.254.169.254 is link-local anyway; AWS's IPv6 one is not.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// internalAddr reports whether a is an address a host name rule never reaches: loopback,
// link-local, multicast, unspecified, or a metadata endpoint. An --allow db.example.com:5432
// rule trusts DNS for where db.example.com is, and whoever controls that name (or answers
// for it) would otherwise point it at the host's own services or its cloud credentials. Such
// addresses are reached only through a rule that names the address or its block.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsUnspecified() || slices.Contains(metadataAddrs, a)
}

// ParseRule parses one --allow rule: "host:port" or "host:lo-hi", where host is an IPv4
// address, an IPv6 address in brackets, a CIDR block ("10.0.0.0/8", "[fd00::/8]") or a host
// name. There is no wildcard host; a CIDR block is the explicit way to allow many addresses.
// The unspecified addresses 0.0.0.0 and :: are refused because they are not wildcards.
func ParseRule(s string) (Rule, error) {
	host, ports, err := splitHostPorts(s)
	if err != nil {
		return Rule{}, fmt.Errorf("%w %q: %v", ErrBadRule, s, err)
	}
	var r Rule
	if r.PortLo, r.PortHi, err = parsePortRange(ports, false); err != nil {
		return Rule{}, fmt.Errorf("%w %q: %v", ErrBadRule, s, err)
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return Rule{}, fmt.Errorf("%w %q: %q is not a CIDR block", ErrBadRule, s, host)
		}
		r.Prefix = p.Masked()
		return r, nil
	}
	if host == "*" {
		return Rule{}, fmt.Errorf("%w %q: there is no wildcard host; name the address or a CIDR block such as 10.0.0.0/8", ErrBadRule, s)
	}
	name, addr, err := parseHost(host)
	if err != nil {
		return Rule{}, fmt.Errorf("%w %q: %v", ErrBadRule, s, err)
	}
	if addr.IsValid() {
		if addr.IsUnspecified() {
			return Rule{}, fmt.Errorf("%w %q: %s is not a wildcard; name the address or a CIDR block", ErrBadRule, s, addr)
		}
		r.Prefix = netip.PrefixFrom(addr, addr.BitLen())
		return r, nil
	}
	r.Name = name
	return r, nil
}

// splitHostPorts splits "host:ports" and "[v6]:ports"; host may not contain a colon unless
// bracketed.
func splitHostPorts(s string) (host, ports string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", "", errors.New(`want "[IPv6]:port"`)
		}
		host, ports = s[1:end], s[end+2:]
		if !strings.Contains(host, ":") {
			return "", "", errors.New("brackets are only for IPv6 addresses")
		}
		return host, ports, nil
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", "", errors.New(`missing port: want "host:port"`)
	}
	host, ports = s[:i], s[i+1:]
	if strings.Contains(host, ":") {
		return "", "", errors.New(`IPv6 addresses need brackets: "[::1]:22"`)
	}
	if host == "" {
		return "", "", errors.New("missing host")
	}
	return host, ports, nil
}

// parsePortRange parses "port" or "lo-hi". Port 0 is refused unless allowZero.
func parsePortRange(s string, allowZero bool) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a, allowZero && !isRange); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(b, false); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("port range %s is backwards", s)
	}
	return lo, hi, nil
}

func parsePort(s string, allowZero bool) (uint16, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !allowZero) {
		return 0, fmt.Errorf("bad port %q: want 1-65535", s)
	}
	return uint16(n), nil
}

// parseHost classifies a host (without brackets) as an address or a name, normalising both:
// every inet_aton form of IPv4 ("127.1", "2130706433", "0x7f000001", "0177.0.0.1") becomes the
// address, IPv4-mapped IPv6 becomes IPv4, names lose case and one trailing dot. A host whose
// last label is numeric must be a valid address; it is never looked up as a name.
func parseHost(host string) (name string, addr netip.Addr, err error) {
	if host == "" {
		return "", netip.Addr{}, errors.New("empty host")
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("%q is not an IPv6 address", host)
		}
		if a.Zone() != "" {
			return "", netip.Addr{}, fmt.Errorf("%q: IPv6 zones are not accepted", host)
		}
		return "", a.Unmap(), nil
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	labels := strings.Split(h, ".")
	if numericLabel(labels[len(labels)-1]) {
		a, ok := parseInetAton(labels)
		if !ok {
			return "", netip.Addr{}, fmt.Errorf("%q is neither an IPv4 address nor a host name", host)
		}
		return "", a, nil
	}
	if len(h) > 253 {
		return "", netip.Addr{}, fmt.Errorf("host name %q too long", host)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" ||
			l[0] == '-' || l[len(l)-1] == '-' {
			return "", netip.Addr{}, fmt.Errorf("%q is not a valid host name", host)
		}
	}
	return h, netip.Addr{}, nil
}

func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return l != "" && strings.Trim(l, "0123456789") == ""
}

// parseInetAton implements inet_aton: 1 to 4 parts, each decimal, octal (leading 0) or hex
// (0x); the last part fills the remaining bytes.
func parseInetAton(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" || strings.ContainsAny(p, "+-") {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v = v<<8 | n
			continue
		}
		rest := uint(4 - i) // bytes the last part fills
		if n >= 1<<(8*rest) {
			return netip.Addr{}, false
		}
		v = v<<(8*rest) | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// dialable maps an address to the one a dial would actually reach: the unspecified address
// reaches loopback on Linux and the BSDs.
func dialable(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.IsUnspecified() {
		if a.Is4() {
			return netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		return netip.IPv6Loopback()
	}
	return a
}

// NormalizeTarget parses a "host:port" target and normalises it as the policy sees it: an
// address (every inet_aton form, IPv4-mapped IPv6 unmapped, 0.0.0.0 → 127.0.0.1, :: → ::1) or
// a lower-case name without a trailing dot.
func NormalizeTarget(target string) (name string, addr netip.Addr, port uint16, err error) {
	host, p, err := net.SplitHostPort(target)
	if err != nil {
		return "", netip.Addr{}, 0, fmt.Errorf("%w %q: want host:port", ErrBadTarget, target)
	}
	if port, err = parsePort(p, false); err != nil {
		return "", netip.Addr{}, 0, fmt.Errorf("%w %q: %v", ErrBadTarget, target, err)
	}
	name, addr, err = parseHost(host)
	if err != nil {
		return "", netip.Addr{}, 0, fmt.Errorf("%w %q: %v", ErrBadTarget, target, err)
	}
	if addr.IsValid() {
		addr = dialable(addr)
	}
	return name, addr, port, nil
}

// Policy is a deny-by-default forward allowlist. A target is allowed when, in every rule set,
// some rule matches it; NewPolicy builds one set and Intersect adds more. The zero Policy and
// a Policy with no rules allow nothing.
type Policy struct {
	sets     [][]Rule
	resolver Resolver
}

var _ Checker = (*Policy)(nil)

// resolveTimeout bounds name resolution while building a policy.
const resolveTimeout = 5 * time.Second

// NewPolicy parses rules (see ParseRule) and resolves name rules with resolver (nil means
// net.DefaultResolver). A name that does not resolve yet is kept: it still matches by name.
func NewPolicy(rules []string, resolver Resolver) (*Policy, error) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	set := make([]Rule, 0, len(rules))
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		if r.Name != "" {
			ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
			addrs, _ := resolver.LookupNetIP(ctx, "ip", r.Name)
			cancel()
			for _, a := range addrs {
				r.Addrs = append(r.Addrs, dialable(a))
			}
		}
		set = append(set, r)
	}
	return &Policy{sets: [][]Rule{set}, resolver: resolver}, nil
}

// Intersect returns a policy that allows a target only if both p and q allow it; the
// per-key permitopen list narrows the host-wide --allow list this way. A nil q means no
// narrowing and returns p.
func (p *Policy) Intersect(q *Policy) *Policy {
	if q == nil {
		return p
	}
	r := &Policy{resolver: p.resolver}
	r.sets = append(slices.Clone(p.sets), q.sets...)
	if r.resolver == nil {
		r.resolver = q.resolver
	}
	return r
}

// Rules returns the rules of the first set (the host-wide list).
func (p *Policy) Rules() []Rule {
	if p == nil || len(p.sets) == 0 {
		return nil
	}
	return slices.Clone(p.sets[0])
}

func (p *Policy) allowsAddr(name string, a netip.Addr, port uint16) bool {
	if p == nil || len(p.sets) == 0 {
		return false
	}
	for _, set := range p.sets {
		if !slices.ContainsFunc(set, func(r Rule) bool { return r.match(name, a, port) }) {
			return false
		}
	}
	return true
}

func (p *Policy) anyPort(port uint16) bool {
	if p == nil || len(p.sets) == 0 {
		return false
	}
	for _, set := range p.sets {
		if !slices.ContainsFunc(set, func(r Rule) bool { return r.portOK(port) }) {
			return false
		}
	}
	return true
}

// Check normalises target and returns the address to dial if the policy allows it. A name is
// resolved (only if some rule could match its port) and the first address that every rule set
// allows, by name or by address, is returned. A refusal wraps ErrTargetRefused and says what
// the host allows.
func (p *Policy) Check(ctx context.Context, target string) (netip.AddrPort, error) {
	name, addr, port, err := NormalizeTarget(target)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if addr.IsValid() {
		if p.allowsAddr("", addr, port) {
			return netip.AddrPortFrom(addr, port), nil
		}
		return netip.AddrPort{}, p.refused(netip.AddrPortFrom(addr, port).String())
	}
	shown := net.JoinHostPort(name, strconv.Itoa(int(port)))
	if !p.anyPort(port) {
		return netip.AddrPort{}, p.refused(shown)
	}
	r := p.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: resolve %s: %v", ErrDialFailed, name, err)
	}
	for _, a := range addrs {
		a = dialable(a)
		if p.allowsAddr(name, a, port) {
			return netip.AddrPortFrom(a, port), nil
		}
	}
	return netip.AddrPort{}, p.refused(shown)
}

// DialContext connects to addr, an address Check returned, and checks the address once more on
// the socket about to connect (net.Dialer's Control hook): an internal address (loopback,
// link-local, metadata; see internalAddr) is refused unless a rule allows it by address (or a
// localhost rule allows loopback). Check already returns an address and the server dials it
// without resolving again, so this is the last line, not the first: whatever path leads to a
// dial, a name that DNS re-points between two lookups cannot reach the host's own services.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: DialTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w %q: not an address", ErrBadTarget, address)
		}
		a := ap.Addr().Unmap()
		if internalAddr(a) && !p.allowsAddr("", a, ap.Port()) {
			return p.refused(netip.AddrPortFrom(a, ap.Port()).String() + " (an internal address reached through a name; allow it by address)")
		}
		return nil
	}}
	return d.DialContext(ctx, network, addr)
}

// RefusedError is the error Check returns for a target the policy does not allow.
type RefusedError struct {
	Target  string   // the normalised target
	Allowed []string // the host-wide rules, for the hint
}

func (e *RefusedError) Error() string {
	const max = 8
	var hint string
	switch {
	case len(e.Allowed) == 0:
		hint = "the host allows no forwards"
	case len(e.Allowed) > max:
		hint = "the host allows: " + strings.Join(e.Allowed[:max], ", ") + fmt.Sprintf(" and %d more", len(e.Allowed)-max)
	default:
		hint = "the host allows: " + strings.Join(e.Allowed, ", ")
	}
	return fmt.Sprintf("%s; %s; the host owner can add --allow HOST:PORT", e.Target, hint)
}

func (e *RefusedError) Unwrap() error { return ErrTargetRefused }

func (p *Policy) refused(target string) error {
	e := &RefusedError{Target: target}
	for _, r := range p.Rules() {
		e.Allowed = append(e.Allowed, r.String())
	}
	return e
}

// ListenRule is one --allow-listen entry: a bind address and a port range.
type ListenRule struct {
	Bind           netip.Addr
	PortLo, PortHi uint16
}

func (r ListenRule) String() string {
	ap := netip.AddrPortFrom(r.Bind, r.PortLo).String()
	if r.PortLo == r.PortHi {
		return ap
	}
	return fmt.Sprintf("%s-%d", ap, r.PortHi)
}

// ParseListenRule parses "[bind:]port[-port]". bind is an IP address (IPv6 in brackets) and
// defaults to 127.0.0.1; 0.0.0.0 and :: mean every interface and must be written out. Port 0
// alone allows "any free port, chosen by the host's kernel".
func ParseListenRule(s string) (ListenRule, error) {
	bind, ports := "127.0.0.1", s
	if strings.Contains(s, ":") {
		var err error
		if bind, ports, err = splitHostPorts(s); err != nil {
			return ListenRule{}, fmt.Errorf("%w %q: %v", ErrBadRule, s, err)
		}
	}
	var r ListenRule
	var err error
	if r.PortLo, r.PortHi, err = parsePortRange(ports, true); err != nil {
		return ListenRule{}, fmt.Errorf("%w %q: %v", ErrBadRule, s, err)
	}
	name, addr, err := parseHost(bind)
	if err != nil || name != "" {
		return ListenRule{}, fmt.Errorf("%w %q: the bind address must be an IP address", ErrBadRule, s)
	}
	r.Bind = addr
	return r, nil
}

// ListenPolicy is the deny-by-default allowlist for reverse (-R) listeners.
type ListenPolicy struct {
	rules []ListenRule
}

var _ ListenChecker = (*ListenPolicy)(nil)

// NewListenPolicy parses --allow-listen rules (see ParseListenRule).
func NewListenPolicy(rules []string) (*ListenPolicy, error) {
	p := &ListenPolicy{}
	for _, s := range rules {
		r, err := ParseListenRule(s)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

// CheckListen normalises a "bind:port" request ("localhost" means 127.0.0.1; other names are
// refused) and returns the address to listen on if a rule allows it. Unlike a dial target,
// 0.0.0.0 keeps its meaning of every interface and matches only a rule that names it.
func (p *ListenPolicy) CheckListen(addr string) (netip.AddrPort, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w %q: want bind:port", ErrBadTarget, addr)
	}
	port, err := parsePort(ps, true)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w %q: %v", ErrBadTarget, addr, err)
	}
	var a netip.Addr
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	} else {
		name, ip, err := parseHost(host)
		if err != nil || name != "" {
			return netip.AddrPort{}, fmt.Errorf("%w %q: the bind address must be an IP address or localhost", ErrBadTarget, addr)
		}
		a = ip
	}
	ap := netip.AddrPortFrom(a, port)
	if p != nil {
		for _, r := range p.rules {
			if r.Bind == a && port >= r.PortLo && port <= r.PortHi {
				return ap, nil
			}
		}
	}
	var allowed []string
	if p != nil {
		for _, r := range p.rules {
			allowed = append(allowed, r.String())
		}
	}
	hint := "the host allows no reverse listeners"
	if len(allowed) > 0 {
		hint = "the host allows listening on: " + strings.Join(allowed, ", ")
	}
	return netip.AddrPort{}, fmt.Errorf("%w: %s; %s; the host owner can add --allow-listen [BIND:]PORT", ErrListenRefused, ap, hint)
}
