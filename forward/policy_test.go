package forward

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from a map; unknown names fail.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

var testResolver = fakeResolver{
	"localhost":    {"::1", "127.0.0.1"},
	"db.internal":  {"10.1.2.3"},
	"v6only":       {"::1"},
	"mapped":       {"::ffff:127.0.0.1"},
	"evil.example": {"127.0.0.1"},
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means an error
	}{
		{"127.0.0.1:5432", "127.0.0.1:5432"},
		{"127.0.0.1:8000-8010", "127.0.0.1:8000-8010"},
		{"[::1]:22", "[::1]:22"},
		{"[::ffff:127.0.0.1]:22", "127.0.0.1:22"},
		{"10.0.0.0/8:443", "10.0.0.0/8:443"},
		{"10.1.2.3/8:443", "10.0.0.0/8:443"},
		{"[fd00::/8]:1-65535", "[fd00::/8]:1-65535"},
		{"DB.Internal.:5432", "db.internal:5432"},
		{"127.1:22", "127.0.0.1:22"},
		{"0x7f000001:22", "127.0.0.1:22"},
		{"localhost:5432", "localhost:5432"},
		{"*:22", ""},
		{"0.0.0.0:22", ""},
		{"[::]:22", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1:", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:65536", ""},
		{"127.0.0.1:10-5", ""},
		{"127.0.0.1:+22", ""},
		{"127.0.0.1:22-", ""},
		{"::1:22", ""},
		{"[127.0.0.1]:22", ""},
		{"[fe80::1%eth0]:22", ""},
		{":22", ""},
		{"256.0.0.1:22", ""},
		{"1.2.3.4.5:22", ""},
		{"08.0.0.1:22", ""},
		{"bad_host!:22", ""},
		{"-lead.example:22", ""},
		{"10.0.0.0/33:22", ""},
	} {
		r, err := ParseRule(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseRule(%q) = %v, want error", tc.in, r)
		case tc.want == "" && !errors.Is(err, ErrBadRule):
			t.Errorf("ParseRule(%q) error %v does not wrap ErrBadRule", tc.in, err)
		case tc.want != "" && err != nil:
			t.Errorf("ParseRule(%q): %v", tc.in, err)
		case tc.want != "" && r.String() != tc.want:
			t.Errorf("ParseRule(%q) = %s, want %s", tc.in, r, tc.want)
		}
	}
}

func TestNormalizeTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: "name:port", "addr:port", or "" for an error
	}{
		{"127.0.0.1:22", "127.0.0.1:22"},
		{"127.1:22", "127.0.0.1:22"},
		{"127.0.1:22", "127.0.0.1:22"},
		{"2130706433:22", "127.0.0.1:22"},
		{"0x7f000001:22", "127.0.0.1:22"},
		{"0X7F000001:22", "127.0.0.1:22"},
		{"0177.0.0.1:22", "127.0.0.1:22"},
		{"0x7f.1:22", "127.0.0.1:22"},
		{"0.0.0.0:22", "127.0.0.1:22"},
		{"0:22", "127.0.0.1:22"},
		{"[::]:22", "[::1]:22"},
		{"[::ffff:127.0.0.1]:22", "127.0.0.1:22"},
		{"[::ffff:7f00:1]:22", "127.0.0.1:22"},
		{"[::ffff:0.0.0.0]:22", "127.0.0.1:22"},
		{"[0:0:0:0:0:0:0:1]:22", "[::1]:22"},
		{"LocalHost.:22", "localhost:22"},
		{"db.Internal:5432", "db.internal:5432"},
		{"127.0.0.1:022", "127.0.0.1:22"},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:99999", ""},
		{"127.0.0.1", ""},
		{"256.1:22", ""},
		{"4294967296:22", ""},
		{"0x:22", ""},
		{"09:22", ""},
		{"[fe80::1%lo]:22", ""},
		{"a..b:22", ""},
		{"a b:22", ""},
		{":22", ""},
	} {
		name, addr, port, err := NormalizeTarget(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, ErrBadTarget) {
				t.Errorf("NormalizeTarget(%q) = %s %v %d, %v; want ErrBadTarget", tc.in, name, addr, port, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NormalizeTarget(%q): %v", tc.in, err)
			continue
		}
		got := ""
		if addr.IsValid() {
			got = netip.AddrPortFrom(addr, port).String()
		} else {
			got = name + ":" + itoa(port)
		}
		if got != tc.want {
			t.Errorf("NormalizeTarget(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func TestPolicyCheck(t *testing.T) {
	rules := []string{"127.0.0.1:5432", "127.0.0.1:8000-8010", "[::1]:22", "10.0.0.0/8:443", "localhost:6379", "db.internal:3306"}
	p, err := NewPolicy(rules, testResolver)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, want string // want "" means refused
	}{
		{"127.0.0.1:5432", "127.0.0.1:5432"},
		{"127.1:5432", "127.0.0.1:5432"},
		{"2130706433:5432", "127.0.0.1:5432"},
		{"0x7f000001:5432", "127.0.0.1:5432"},
		{"0177.0.0.1:5432", "127.0.0.1:5432"},
		{"0.0.0.0:5432", "127.0.0.1:5432"},
		{"[::ffff:127.0.0.1]:5432", "127.0.0.1:5432"},
		{"[::ffff:7f00:1]:5432", "127.0.0.1:5432"},
		{"[::]:22", "[::1]:22"},
		{"127.0.0.2:5432", ""},  // a different loopback address
		{"2130706434:5432", ""}, // 127.0.0.2 in decimal
		{"0x7f000002:5432", ""}, // 127.0.0.2 in hex
		{"127.0.0.1:5433", ""},  // port not allowed
		{"127.0.0.1:8011", ""},  // just outside the range
		{"127.0.0.1:8010", "127.0.0.1:8010"},
		{"127.0.0.1:7999", ""},
		{"[::1]:5432", ""}, // IPv6 loopback is not 127.0.0.1
		{"10.200.3.4:443", "10.200.3.4:443"},
		{"11.0.0.1:443", ""},
		{"10.200.3.4:80", ""},
		{"localhost:5432", "127.0.0.1:5432"},    // name resolved, first address an IP rule allows
		{"v6only:5432", ""},                     // resolves only to ::1, rule is 127.0.0.1
		{"mapped:5432", "127.0.0.1:5432"},       // resolver answers IPv4-mapped
		{"evil.example:5432", "127.0.0.1:5432"}, // resolves to an allowed address
		{"localhost:6379", "[::1]:6379"},        // name rule: first resolved address
		{"LOCALHOST.:6379", "[::1]:6379"},
		{"127.0.0.1:6379", "127.0.0.1:6379"}, // name rule resolved at build time
		{"[::1]:6379", "[::1]:6379"},
		{"127.0.0.2:6379", ""},
		{"db.internal:3306", "10.1.2.3:3306"},
		{"10.1.2.3:3306", "10.1.2.3:3306"},
		{"db.internal:3307", ""},
		{"unknown.example:3306", ""}, // resolve fails
		{"nothing.example:9", ""},    // no rule has port 9: not even resolved
	} {
		got, err := p.Check(context.Background(), tc.target)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Check(%q) = %v, want refusal", tc.target, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Check(%q): %v", tc.target, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("Check(%q) = %v, want %s", tc.target, got, tc.want)
		}
	}
}

func TestPolicyRefusalMessage(t *testing.T) {
	p, _ := NewPolicy([]string{"127.0.0.1:5432"}, testResolver)
	_, err := p.Check(context.Background(), "127.0.0.2:5432")
	if !errors.Is(err, ErrTargetRefused) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"127.0.0.2:5432", "the host allows: 127.0.0.1:5432", "--allow HOST:PORT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	empty, _ := NewPolicy(nil, testResolver)
	if _, err := empty.Check(context.Background(), "127.0.0.1:22"); !errors.Is(err, ErrTargetRefused) || !strings.Contains(err.Error(), "allows no forwards") {
		t.Errorf("empty policy: %v", err)
	}
	var zero *Policy
	if _, err := zero.Check(context.Background(), "127.0.0.1:22"); !errors.Is(err, ErrTargetRefused) {
		t.Errorf("nil policy: %v", err)
	}
}

func TestPolicyIntersect(t *testing.T) {
	host, _ := NewPolicy([]string{"127.0.0.1:5432", "127.0.0.1:22", "10.0.0.0/8:443"}, testResolver)
	key, _ := NewPolicy([]string{"127.0.0.1:22", "10.0.0.5:443", "127.0.0.1:80"}, testResolver)
	p := host.Intersect(key)
	for target, ok := range map[string]bool{
		"127.0.0.1:22":   true,
		"127.0.0.1:5432": false, // host allows, key does not
		"127.0.0.1:80":   false, // key allows, host does not
		"10.0.0.5:443":   true,
		"10.0.0.6:443":   false,
		"localhost:22":   true,
	} {
		_, err := p.Check(context.Background(), target)
		if (err == nil) != ok {
			t.Errorf("Check(%q) err = %v, want allowed=%v", target, err, ok)
		}
	}
	if host.Intersect(nil) != host {
		t.Error("Intersect(nil) should not narrow")
	}
}

func TestListenPolicy(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"8080", "127.0.0.1:8080"},
		{"8000-8010", "127.0.0.1:8000-8010"},
		{"0.0.0.0:2222", "0.0.0.0:2222"},
		{"[::1]:9000", "[::1]:9000"},
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"0-10", ""},
		{"localhost:80", ""},
		{"x", ""},
		{"", ""},
	} {
		r, err := ParseListenRule(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseListenRule(%q) = %v, want error", tc.in, r)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseListenRule(%q) = %v, %v; want %s", tc.in, r, err, tc.want)
		}
	}
	p, err := NewListenPolicy([]string{"8080", "0.0.0.0:2222", "127.0.0.1:0", "9000-9001"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		"localhost:8080": "127.0.0.1:8080",
		"127.1:8080":     "127.0.0.1:8080",
		"0.0.0.0:8080":   "", // every interface is not 127.0.0.1
		"0.0.0.0:2222":   "0.0.0.0:2222",
		"127.0.0.1:2222": "",
		"127.0.0.1:0":    "127.0.0.1:0",
		"127.0.0.1:9001": "127.0.0.1:9001",
		"127.0.0.1:9002": "",
		"example.com:80": "",
		"[::1]:8080":     "",
	} {
		got, err := p.CheckListen(addr)
		if want == "" {
			if err == nil {
				t.Errorf("CheckListen(%q) = %v, want refusal", addr, got)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("CheckListen(%q) = %v, %v; want %s", addr, got, err, want)
		}
	}
	var none *ListenPolicy
	if _, err := none.CheckListen("127.0.0.1:8080"); !errors.Is(err, ErrListenRefused) {
		t.Errorf("nil listen policy: %v", err)
	}
}

// rebinding answers a public address the first time a name is looked up (when the policy is
// built) and an internal one every time after, as a hostile DNS server would.
type rebinding struct {
	mu    sync.Mutex
	first map[string]bool
	later map[string]string
}

func (r *rebinding) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.first[host] {
		r.first[host] = true
		return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
	}
	return []netip.Addr{netip.MustParseAddr(r.later[host])}, nil
}

// TestNameRuleNeverReachesInternal: a name rule allows what the name resolves to, except
// loopback, link-local and metadata addresses, which only a rule naming the address reaches.
func TestNameRuleNeverReachesInternal(t *testing.T) {
	internal := fakeResolver{
		"db.example.com":     {"127.0.0.1"},
		"meta.example.com":   {"169.254.169.254"},
		"meta6.example.com":  {"fd00:ec2::254"},
		"ll.example.com":     {"fe80::1"},
		"mapped.example.com": {"::ffff:127.0.0.1"},
		"zero.example.com":   {"0.0.0.0"},
		"mixed.example.com":  {"127.0.0.1", "10.9.9.9"},
		"ok.example.com":     {"10.1.2.3"},
		"localhost":          {"::1", "127.0.0.1"},
		"lan.localhost":      {"10.1.2.3"},
	}
	names, err := NewPolicy([]string{"db.example.com:5432", "meta.example.com:80", "meta6.example.com:80", "ll.example.com:22",
		"mapped.example.com:5432", "zero.example.com:5432", "mixed.example.com:5432", "ok.example.com:5432", "localhost:6379", "lan.localhost:22"}, internal)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, want string }{
		{"db.example.com:5432", ""},
		{"127.0.0.1:5432", ""}, // resolved at build time, still not reachable by address
		{"meta.example.com:80", ""},
		{"169.254.169.254:80", ""},
		{"meta6.example.com:80", ""},
		{"[fd00:ec2::254]:80", ""},
		{"ll.example.com:22", ""},
		{"mapped.example.com:5432", ""},
		{"zero.example.com:5432", ""},
		{"mixed.example.com:5432", "10.9.9.9:5432"}, // the internal address is skipped
		{"ok.example.com:5432", "10.1.2.3:5432"},
		{"localhost:6379", "[::1]:6379"}, // localhost means loopback
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"lan.localhost:22", ""}, // a localhost name reaches loopback only
	} {
		got, err := names.Check(context.Background(), tc.target)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("Check(%q) = %v, want refused", tc.target, got)
		case tc.want == "" && !errors.Is(err, ErrTargetRefused):
			t.Errorf("Check(%q): %v, want ErrTargetRefused", tc.target, err)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("Check(%q) = %v, %v; want %s", tc.target, got, err, tc.want)
		}
	}

	// Allowed by address too: then the name reaches it.
	both, err := NewPolicy([]string{"db.example.com:5432", "127.0.0.1:5432", "meta.example.com:80", "169.254.169.254/32:80"}, internal)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"db.example.com:5432", "meta.example.com:80"} {
		if _, err := both.Check(context.Background(), target); err != nil {
			t.Errorf("Check(%q) with the address allowed too: %v", target, err)
		}
	}

	// DNS rebinding: public when the policy is built, loopback when the viewer asks.
	rb := &rebinding{first: map[string]bool{}, later: map[string]string{"db.example.com": "127.0.0.1", "meta.example.com": "169.254.169.254"}}
	p, err := NewPolicy([]string{"db.example.com:5432", "meta.example.com:80"}, rb)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"db.example.com:5432", "meta.example.com:80"} {
		if got, err := p.Check(context.Background(), target); !errors.Is(err, ErrTargetRefused) {
			t.Errorf("rebinding Check(%q) = %v, %v; want refused", target, got, err)
		}
	}
}

// TestDialHookRefusesInternal: the dial itself refuses an internal address that only a name
// rule covers, whatever produced the address; a real loopback service is never connected to.
func TestDialHookRefusesInternal(t *testing.T) {
	// Every connection the service accepts is announced here: Accept runs in its own goroutine,
	// so a count read right after a dial may not include it yet.
	accepted := make(chan struct{}, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	res := fakeResolver{"db.example.com": {"127.0.0.1"}}
	ctx := context.Background()

	names, _ := NewPolicy([]string{"db.example.com:" + port}, res)
	if c, err := names.DialContext(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrTargetRefused) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s under a name rule: %v, want ErrTargetRefused", ln.Addr(), err)
	}
	select {
	case <-accepted:
		t.Fatal("the service saw a connection under a name rule")
	default: // a refused dial never sends a SYN: the Control hook runs before connect
	}
	byAddr, _ := NewPolicy([]string{"db.example.com:" + port, "127.0.0.1:" + port}, res)
	c, err := byAddr.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with the address allowed: %v", err)
	}
	c.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the by-address dial connected but the service never accepted it")
	}

	// Through the tunnel server, as the host runs it: the viewer names the host, the host
	// refuses and the service is never reached.
	e := newEnv(t, transports[0], ServerConfig{Policy: names, Dialer: names.DialContext})
	if s, err := e.client.Dial(e.ctx, "db.example.com:"+port); !errors.Is(err, ErrTargetRefused) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("forward to db.example.com:%s: %v, want refused", port, err)
	}
	select {
	case <-accepted:
		t.Fatal("the forward under a name rule reached the service")
	default:
	}
}
