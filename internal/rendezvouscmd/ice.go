package rendezvouscmd

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/deskport/deskport/relay"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/turncred"
)

// defaultSTUNListen is where the built-in STUN server listens unless told otherwise.
const defaultSTUNListen = ":3478"

// iceFlags are the STUN and TURN flags of the rendezvous command.
type iceFlags struct {
	stunListen    string
	turn          bool
	turnListen    string
	turnTLSListen string
	turnTLSCert   string
	turnTLSKey    string
	publicIP      string
	relayPorts    string
	secretFile    string
	allowPrivate  bool
	ttl           time.Duration
	maxAllocs     int
	maxBitrate    string
	stunRate      float64
	iceServers    []string
}

// stunLimit is the relay's per-address limit on unauthenticated requests: --stun-rate, with a
// burst of four seconds' worth; 0 turns it off.
// turnTLSName is the DNS name --turn-tls-listen gives its relay (turn.example.com:443), which
// TURN-over-TLS clients dial and ask a certificate for; "" when it gives none or an address.
func (f *iceFlags) turnTLSName() string {
	h, _, err := net.SplitHostPort(f.turnTLSListen)
	if err != nil || h == "" {
		return ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	return h
}

func (f *iceFlags) stunLimit() (rate float64, burst int) {
	if f.stunRate <= 0 {
		return -1, 0
	}
	return f.stunRate, max(1, int(4*f.stunRate))
}

func (f *iceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.stunListen, "stun-listen", defaultSTUNListen, `UDP address of the built-in STUN server, handed to hosts and viewers ("off": none)`)
	fs.BoolVar(&f.turn, "turn", false, "run a TURN relay (UDP and TCP on --turn-listen) for peers that cannot connect directly")
	fs.StringVar(&f.turnListen, "turn-listen", defaultSTUNListen, "address of the TURN relay, UDP and TCP")
	fs.StringVar(&f.turnTLSListen, "turn-tls-listen", "", "address of TURN over TLS (e.g. :5349; or turn.example.com:443, a name for a second address, which then names it in turns: URLs); needs a certificate")
	fs.StringVar(&f.turnTLSCert, "turn-tls-cert", "", "certificate (PEM) for TURN over TLS")
	fs.StringVar(&f.turnTLSKey, "turn-tls-key", "", "private key (PEM) for TURN over TLS")
	fs.StringVar(&f.publicIP, "public-ip", "", "the address peers reach this machine at: names the STUN/TURN servers and the relay's address (default: the address clients used / the outgoing interface)")
	fs.StringVar(&f.relayPorts, "turn-relay-ports", "", "UDP port range for relayed traffic, lo-hi (default: any)")
	fs.StringVar(&f.secretFile, "turn-secret-file", "", "TURN REST shared secret (first line), shared with the built-in relay and any external TURN server (coturn static-auth-secret); default: random per run")
	fs.BoolVar(&f.allowPrivate, "turn-allow-private", false, "let the relay reach loopback, private, link-local and metadata addresses (only for a relay inside a private network)")
	fs.DurationVar(&f.ttl, "turn-credential-ttl", rendezvous.DefaultCredentialTTL, "how long a session's TURN credentials may open a relay allocation")
	fs.IntVar(&f.maxAllocs, "turn-max-allocations", relay.DefaultMaxAllocations, "relay allocations one session's credentials may hold")
	fs.StringVar(&f.maxBitrate, "turn-max-bitrate", "100M", "relayed bits per second one session's credentials may use, e.g. 20M (0: no limit)")
	fs.Float64Var(&f.stunRate, "stun-rate", relay.DefaultSTUNRate, "STUN binding (and unauthenticated TURN allocate) requests answered per second per client address (an IPv6 /64), with a burst of 4 seconds' worth; more are dropped, so the server cannot be used to reflect floods at spoofed addresses (0: no limit)")
	fs.StringArrayVar(&f.iceServers, "ice-server", nil, "another STUN/TURN URL handed out; turn: and turns: URLs get the session's credentials (needs --turn-secret-file) (repeatable)")
}

// iceService is the running built-in STUN/TURN servers.
type iceService struct {
	servers []*relay.Server
	turn    *relay.Server // the TURN relay among servers; nil without --turn
}

func (s *iceService) Close() error {
	var errs []error
	for _, r := range s.servers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// start opens the built-in servers and returns what the rendezvous hands out. tlsConfig, when
// not nil, is the rendezvous's own certificate, used for TURN over TLS unless
// --turn-tls-cert is given. stunExplicit says --stun-listen was given: a busy default port
// is then not fatal.
func (f *iceFlags) start(log *slog.Logger, tlsConfig *tls.Config, stunExplicit bool) (*rendezvous.ICEConfig, *iceService, error) {
	ice := &rendezvous.ICEConfig{CredentialTTL: f.ttl}
	svc := &iceService{}
	fail := func(err error) (*rendezvous.ICEConfig, *iceService, error) {
		svc.Close()
		return nil, nil, err
	}
	if f.publicIP != "" {
		ip, err := netip.ParseAddr(f.publicIP)
		if err != nil {
			return fail(fmt.Errorf("--public-ip %q is not an IP address", f.publicIP))
		}
		ice.PublicHost = ip.String()
	}
	for _, u := range f.iceServers {
		ice.External = append(ice.External, rendezvous.ICEServer{URLs: []string{u}})
	}
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return fail(fmt.Errorf("--turn-secret-file: %w", err))
		}
		if ice.Secret, err = turncred.LoadSecret(b); err != nil {
			return fail(fmt.Errorf("--turn-secret-file %s: %w", f.secretFile, err))
		}
	} else if f.turn {
		raw := make([]byte, 32)
		rand.Read(raw)
		ice.Secret = []byte(base64.RawStdEncoding.EncodeToString(raw))
	}
	stunOff := f.stunListen == "" || f.stunListen == "off"
	shared := f.turn && !stunOff && sameAddr(f.stunListen, f.turnListen)

	if f.turn {
		rcfg, err := f.relayConfig(log, ice.Secret)
		if err != nil {
			return fail(err)
		}
		udp, err := net.ListenPacket("udp", f.udpListenAddr(f.turnListen, rcfg.RelayBind))
		if err != nil {
			return fail(fmt.Errorf("TURN: cannot listen on UDP %s: %w (choose another with --turn-listen)", f.turnListen, err))
		}
		rcfg.UDP = udp
		tcp, err := net.Listen("tcp", f.turnListen)
		if err != nil {
			udp.Close()
			return fail(fmt.Errorf("TURN: cannot listen on TCP %s: %w (choose another with --turn-listen)", f.turnListen, err))
		}
		rcfg.TCP = tcp
		ice.TURNPort = udp.LocalAddr().(*net.UDPAddr).Port
		if f.turnTLSListen != "" {
			tc := tlsConfig
			if f.turnTLSCert != "" || f.turnTLSKey != "" {
				cert, err := tls.LoadX509KeyPair(f.turnTLSCert, f.turnTLSKey)
				if err != nil {
					udp.Close()
					tcp.Close()
					return fail(fmt.Errorf("TURN over TLS: %w", err))
				}
				tc = &tls.Config{Certificates: []tls.Certificate{cert}}
			}
			if tc == nil {
				udp.Close()
				tcp.Close()
				return fail(errors.New("--turn-tls-listen needs a certificate: serve the rendezvous over HTTPS (--tls-cert and --tls-key, or --acme), or give --turn-tls-cert and --turn-tls-key"))
			}
			tl, err := net.Listen("tcp", f.turnTLSListen)
			if err != nil {
				udp.Close()
				tcp.Close()
				return fail(fmt.Errorf("TURN over TLS: cannot listen on %s: %w (choose another with --turn-tls-listen)", f.turnTLSListen, err))
			}
			rcfg.TLS, rcfg.TLSConfig = tl, tc
			ice.TURNTLSPort = tl.Addr().(*net.TCPAddr).Port
			// A name or address given with the port names the TLS relay (a second address).
			if h, _, _ := net.SplitHostPort(f.turnTLSListen); h != "" {
				if ip, err := netip.ParseAddr(h); err != nil || !ip.IsUnspecified() {
					ice.TURNTLSHost = h
				}
			}
		}
		srv, err := relay.New(rcfg)
		if err != nil {
			return fail(err)
		}
		svc.servers = append(svc.servers, srv)
		svc.turn = srv
		log.Info("TURN relay ready", "addr", udp.LocalAddr().String(), "tls_port", ice.TURNTLSPort, "relay_ip", rcfg.RelayIP.String(), "allow_private", rcfg.AllowPrivate)
		if shared {
			ice.STUNPort = ice.TURNPort
		}
	} else if f.turnTLSListen != "" {
		return fail(errors.New("--turn-tls-listen needs --turn"))
	}
	if !stunOff && !shared {
		var bind netip.Addr
		if ip, err := netip.ParseAddr(f.publicIP); err == nil && isLocalAddr(ip) {
			bind = ip
		}
		udp, err := net.ListenPacket("udp", f.udpListenAddr(f.stunListen, bind))
		switch {
		case err != nil && stunExplicit:
			return fail(fmt.Errorf("STUN: cannot listen on UDP %s: %w (choose another with --stun-listen, or --stun-listen off)", f.stunListen, err))
		case err != nil:
			log.Warn("no built-in STUN server: its port is busy; peers behind NAT may not connect (free the port, or set --stun-listen)", "addr", f.stunListen, "err", err)
		default:
			sr, sb := f.stunLimit()
			srv, err := relay.New(relay.Config{Logger: log.With("component", "stun"), UDP: udp, STUNRate: sr, STUNBurst: sb})
			if err != nil {
				return fail(err)
			}
			svc.servers = append(svc.servers, srv)
			ice.STUNPort = udp.LocalAddr().(*net.UDPAddr).Port
			log.Info("STUN server ready", "addr", udp.LocalAddr().String())
		}
	}
	return ice, svc, nil
}

// relayConfig turns the flags into a relay.Config without sockets.
func (f *iceFlags) relayConfig(log *slog.Logger, secret []byte) (relay.Config, error) {
	cfg := relay.Config{
		Logger: log.With("component", "turn"), TURN: true, Secret: secret,
		AllowPrivate: f.allowPrivate, MaxAllocations: f.maxAllocs,
	}
	cfg.STUNRate, cfg.STUNBurst = f.stunLimit()
	rate, err := parseBitrate(f.maxBitrate)
	if err != nil {
		return cfg, fmt.Errorf("--turn-max-bitrate: %w", err)
	}
	cfg.MaxBitrate = rate
	if rate == 0 {
		cfg.MaxBitrate = -1
	}
	if f.relayPorts != "" {
		lo, hi, ok := strings.Cut(f.relayPorts, "-")
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if !ok || err1 != nil || err2 != nil || l == 0 || l > h {
			return cfg, fmt.Errorf("--turn-relay-ports %q is not lo-hi (e.g. 49152-65535)", f.relayPorts)
		}
		cfg.MinPort, cfg.MaxPort = uint16(l), uint16(h)
	}
	switch host, _, _ := net.SplitHostPort(f.turnListen); {
	case f.publicIP != "":
		cfg.RelayIP = netip.MustParseAddr(f.publicIP)
		if isLocalAddr(cfg.RelayIP) {
			// On a machine with several addresses, a relay socket bound to the wildcard address
			// sends from whichever one the kernel picks, and a peer's NAT drops what does not
			// come from the address in the candidate. Bound to --public-ip, it cannot.
			cfg.RelayBind = cfg.RelayIP
		}
	case host != "" && net.ParseIP(host) != nil && !net.ParseIP(host).IsUnspecified():
		cfg.RelayIP = netip.MustParseAddr(host)
		cfg.RelayBind = cfg.RelayIP
	default:
		ip, err := outboundIP()
		if err != nil {
			return cfg, fmt.Errorf("TURN: cannot tell this machine's address (%v); give --public-ip", err)
		}
		cfg.RelayIP = ip
		log.Warn("the relay advertises the outgoing interface's address; behind a NAT (a cloud VM with a public IP) give --public-ip", "relay_ip", ip.String())
	}
	cfg.RelayIP = cfg.RelayIP.Unmap()
	return cfg, nil
}

// isLocalAddr reports whether ip is an address of one of this machine's interfaces (a
// --public-ip behind a 1:1 NAT is not).
func isLocalAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok {
			if local, ok := netip.AddrFromSlice(p.IP); ok && local.Unmap() == ip.Unmap() {
				return true
			}
		}
	}
	return false
}

// udpListenAddr is where a UDP server of the built-in STUN/TURN listens: as given, but on bind
// (the --public-ip, when it is an address of this machine) when the flag names no address. A
// UDP socket on the wildcard address answers from the address the kernel picks, not the one the
// client wrote to; a client behind a NAT drops an answer from another address.
func (f *iceFlags) udpListenAddr(listen string, bind netip.Addr) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || !bind.IsValid() {
		return listen
	}
	if ip, err := netip.ParseAddr(host); host != "" && (err != nil || !ip.IsUnspecified()) {
		return listen
	}
	return net.JoinHostPort(bind.String(), port)
}

// outboundIP is the source address of this machine's default route (no packet is sent).
func outboundIP() (netip.Addr, error) {
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// sameAddr reports whether two listen addresses are the same host:port.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && pa == pb && pa != "0" && ha == hb
}

// parseBitrate reads "100M", "800k" or a plain number of bits per second.
func parseBitrate(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1_000_000_000, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "k"):
		mult, s = 1_000, strings.TrimSuffix(s, "k")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a bit rate like 100M or 800k", s)
	}
	return n * mult, nil
}
