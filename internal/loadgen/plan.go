package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"syscall"
	"time"
)

// Plan is one deskport-load run: Hosts hosts register, spread over URLs, then viewers open
// Rate sessions a second for Duration, each through a URL other than its host's when there is
// one (the cross-instance case), and the figures are printed.
type Plan struct {
	URLs     []string
	Hosts    int
	Rate     float64
	Duration time.Duration
	// Loopback binds the connections to source addresses spread over 127.0.0.0/8, 16 per
	// address, so that the rendezvous's per-address caps hold; it needs loopback URLs.
	Loopback bool
	// Seed derives the host keys (the same seed gives the same host IDs).
	Seed uint64
	Out  io.Writer
}

// Validate refuses a plan that cannot run.
func (p Plan) Validate() error {
	var errs []error
	if len(p.URLs) == 0 {
		errs = append(errs, errors.New("give at least one --rendezvous URL"))
	}
	for _, raw := range p.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--rendezvous %q: give http(s)://host:port", raw))
			continue
		}
		if p.Loopback {
			ip, err := netip.ParseAddr(u.Hostname())
			if err != nil || !ip.IsLoopback() || !ip.Is4() {
				errs = append(errs, fmt.Errorf("--rendezvous %q: --spread-loopback needs an IPv4 loopback address such as 127.0.0.1", raw))
			}
		}
	}
	if p.Hosts < 1 || p.Rate < 0 || p.Duration < 0 {
		errs = append(errs, errors.New("--hosts must be positive, --rate and --duration not negative"))
	}
	return errors.Join(errs...)
}

// IsLoopbackURL reports whether raw names an IPv4 loopback address.
func IsLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}

// Run carries out the plan.
func (p Plan) Run(ctx context.Context) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := RaiseFileLimit(uint64(p.Hosts) + uint64(p.Rate*10) + 1024); err != nil {
		return fmt.Errorf("raise the file descriptor limit: %w", err)
	}
	hostSrc, viewerSrc := func(int) netip.Addr { return netip.Addr{} }, func(int) netip.Addr { return netip.Addr{} }
	if p.Loopback {
		hostSrc, viewerSrc = Spread{Block: 200, PerAddr: 16}.Addr, Spread{Block: 201, PerAddr: 1}.Addr
	}
	start := time.Now()
	keys := Keys(p.Hosts, p.Seed)
	hctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	hosts, err := StartHosts(hctx, HostsConfig{URLs: p.URLs, Keys: keys, Source: hostSrc, Fatal: registrationFatal})
	cancel()
	if err != nil {
		return err
	}
	defer hosts.Close()
	fmt.Fprintf(p.Out, "%d hosts registered in %.1f s over %d rendezvous URL(s)\n", p.Hosts, time.Since(start).Seconds(), len(p.URLs))
	n := int(p.Rate * p.Duration.Seconds())
	if n == 0 {
		<-ctx.Done()
		return nil
	}
	v := &Viewers{URLs: p.URLs, Source: viewerSrc}
	ss := v.Run(ctx, RunConfig{Rate: p.Rate, Count: n, Target: func(j int) (int, int, string) {
		i := j * 7919 % p.Hosts
		return (hosts.URL(i) + 1) % len(p.URLs), i, hosts.ID(i)
	}})
	byPath := map[string][]Session{}
	for _, s := range ss {
		path := "same instance"
		if hosts.URL(s.Host) != s.URL {
			path = "across instances"
		}
		byPath[path] = append(byPath[path], s)
	}
	var paths []string
	for k := range byPath {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, path := range paths {
		sum := Summarize(byPath[path])
		fmt.Fprintf(p.Out, "%s: %d sessions at %.0f/s, %d failed; offer → answer p50 %.2f ms, p99 %.2f ms, max %.2f ms; connect p50 %.2f ms\n",
			path, sum.Sessions, p.Rate, sum.Failed, msf(sum.P50), msf(sum.P99), msf(sum.Max), msf(sum.ConnectP50))
		for msg, k := range sum.Errors {
			fmt.Fprintf(p.Out, "  %d× %s\n", k, msg)
		}
	}
	fmt.Fprintf(p.Out, "hosts answered %d offers; %d host connections were lost and re-registered\n", hosts.Answered(), hosts.Reconnects())
	return nil
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// registrationFatal says what to do about a host's first registration failing in a way more
// attempts will not mend, or returns nil for a failure worth retrying.
func registrationFatal(err error) error {
	var se *StatusError
	var re *RefusedError
	var certErr *tls.CertificateVerificationError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
		return fmt.Errorf("the rendezvous refused more WebSockets from this address (%v): it accepts --max-conns-per-ip (default 32) per client address; "+
			"against a rendezvous on this machine use a 127.x URL (--spread-loopback), otherwise run fewer --hosts per machine from several machines, "+
			"or use a test instance started with a higher --max-conns-per-ip", err)
	case errors.As(err, &se):
		return fmt.Errorf("no rendezvous WebSocket endpoint at that URL (%v); check --rendezvous", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens there (%v); check --rendezvous and that the rendezvous is running", err)
	case errors.As(err, &re):
		return fmt.Errorf("the rendezvous refused the simulated hosts' registration (%v)", err)
	case errors.As(err, &certErr):
		return fmt.Errorf("the rendezvous's TLS certificate is not trusted for that name (%v); deskport-load checks certificates as the agent does", err)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Errorf("no such host (%v); check --rendezvous", err)
	}
	return nil
}
