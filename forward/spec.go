package forward

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// LocalSpec is an ssh -L specification: listen on Bind:Port on the viewer, forward to
// Host:HostPort as seen from the host.
type LocalSpec struct {
	Bind     string
	Port     uint16
	Host     string
	HostPort uint16
}

// ListenAddr is the address to listen on.
func (s LocalSpec) ListenAddr() string { return net.JoinHostPort(s.Bind, itoa16(s.Port)) }

// Target is the "host:port" to open through the host.
func (s LocalSpec) Target() string { return net.JoinHostPort(s.Host, itoa16(s.HostPort)) }

// RemoteSpec is an ssh -R specification: the host listens on Bind:Port and forwards each
// connection to Host:HostPort as seen from the viewer.
type RemoteSpec struct {
	Bind     string
	Port     uint16
	Host     string
	HostPort uint16
}

// ListenAddr is the address the host is asked to listen on.
func (s RemoteSpec) ListenAddr() string { return net.JoinHostPort(s.Bind, itoa16(s.Port)) }

// Target is the local "host:port" each reverse connection is dialed to.
func (s RemoteSpec) Target() string { return net.JoinHostPort(s.Host, itoa16(s.HostPort)) }

// DynamicSpec is an ssh -D specification: a SOCKS5 server on Bind:Port.
type DynamicSpec struct {
	Bind string
	Port uint16
}

// ListenAddr is the address to listen on.
func (s DynamicSpec) ListenAddr() string { return net.JoinHostPort(s.Bind, itoa16(s.Port)) }

func itoa16(p uint16) string { return strconv.Itoa(int(p)) }

// DefaultBind is the bind address when a spec names none: loopback, as in ssh.
const DefaultBind = "127.0.0.1"

// ParseLocalSpec parses "[bind:]port:host:hostport" as ssh -L does. IPv6 addresses go in
// brackets; bind defaults to 127.0.0.1, and "*" or an empty bind means 0.0.0.0. Port 0 asks for
// any free port.
func ParseLocalSpec(s string) (LocalSpec, error) {
	bind, port, host, hostPort, err := parseForwardSpec(s)
	if err != nil {
		return LocalSpec{}, fmt.Errorf("%w -L %q: %v; want [bind:]port:host:hostport", ErrBadSpec, s, err)
	}
	return LocalSpec{bind, port, host, hostPort}, nil
}

// ParseRemoteSpec parses "[bind:]port:host:hostport" as ssh -R does: bind:port is on the host
// (default bind 127.0.0.1), host:hostport on the viewer.
func ParseRemoteSpec(s string) (RemoteSpec, error) {
	bind, port, host, hostPort, err := parseForwardSpec(s)
	if err != nil {
		return RemoteSpec{}, fmt.Errorf("%w -R %q: %v; want [bind:]port:host:hostport", ErrBadSpec, s, err)
	}
	return RemoteSpec{bind, port, host, hostPort}, nil
}

// ParseDynamicSpec parses "[bind:]port" as ssh -D does.
func ParseDynamicSpec(s string) (DynamicSpec, error) {
	f, err := splitSpec(s)
	if err == nil && (len(f) < 1 || len(f) > 2) {
		err = fmt.Errorf("%d fields", len(f))
	}
	var d DynamicSpec
	if err == nil {
		d.Bind = DefaultBind
		if len(f) == 2 {
			d.Bind, err = specBind(f[0])
		}
	}
	if err == nil {
		d.Port, err = specPort(f[len(f)-1], true)
	}
	if err != nil {
		return DynamicSpec{}, fmt.Errorf("%w -D %q: %v; want [bind:]port", ErrBadSpec, s, err)
	}
	return d, nil
}

func parseForwardSpec(s string) (bind string, port uint16, host string, hostPort uint16, err error) {
	f, err := splitSpec(s)
	if err != nil {
		return "", 0, "", 0, err
	}
	bind = DefaultBind
	switch len(f) {
	case 3:
	case 4:
		if bind, err = specBind(f[0]); err != nil {
			return "", 0, "", 0, err
		}
		f = f[1:]
	default:
		return "", 0, "", 0, fmt.Errorf("%d fields", len(f))
	}
	if port, err = specPort(f[0], true); err != nil {
		return "", 0, "", 0, err
	}
	host = f[1]
	if host == "" {
		return "", 0, "", 0, fmt.Errorf("empty host")
	}
	if err := checkAddrText(host); err != nil {
		return "", 0, "", 0, err
	}
	if hostPort, err = specPort(f[2], false); err != nil {
		return "", 0, "", 0, err
	}
	return bind, port, host, hostPort, nil
}

// splitSpec splits on colons outside brackets and removes the brackets.
func splitSpec(s string) ([]string, error) {
	var out []string
	for s != "" || len(out) == 0 {
		var field string
		if strings.HasPrefix(s, "[") {
			end := strings.Index(s, "]")
			if end < 0 {
				return nil, fmt.Errorf("unclosed bracket")
			}
			field, s = s[1:end], s[end+1:]
			if !strings.Contains(field, ":") {
				return nil, fmt.Errorf("brackets are only for IPv6 addresses")
			}
			if s != "" && s[0] != ':' {
				return nil, fmt.Errorf("junk after ]")
			}
		} else {
			i := strings.IndexByte(s, ':')
			if i < 0 {
				i = len(s)
			}
			field, s = s[:i], s[i:]
			if strings.ContainsAny(field, "[]") {
				return nil, fmt.Errorf("stray bracket")
			}
		}
		out = append(out, field)
		if s == "" {
			break
		}
		s = s[1:] // the colon
		if s == "" {
			out = append(out, "")
		}
	}
	return out, nil
}

func specBind(b string) (string, error) {
	switch b {
	case "", "*":
		return "0.0.0.0", nil
	}
	if err := checkAddrText(b); err != nil {
		return "", err
	}
	return b, nil
}

func specPort(s string, allowZero bool) (uint16, error) {
	p, err := parsePort(s, allowZero)
	if err != nil {
		return 0, err
	}
	return p, nil
}
