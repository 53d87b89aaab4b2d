package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/deskport/deskport/mux"
)

// SOCKS5 constants (RFC 1928).
const (
	socksVersion      = 5
	socksNoAuth       = 0x00
	socksNoAcceptable = 0xff
	socksConnect      = 0x01
	socksAtypIPv4     = 0x01
	socksAtypDomain   = 0x03
	socksAtypIPv6     = 0x04

	socksSucceeded           = 0x00
	socksGeneralFailure      = 0x01
	socksNotAllowed          = 0x02
	socksHostUnreachable     = 0x04
	socksConnRefused         = 0x05
	socksCommandNotSupported = 0x07
	socksAtypNotSupported    = 0x08
)

// ServeSOCKS runs an ssh -D forward: a SOCKS5 server on ln (no authentication, CONNECT only,
// IPv4, IPv6 and domain names) whose every destination is opened through the host, which
// checks it against its policy. A refusal is answered with SOCKS reply 0x02 ("connection not
// allowed by ruleset"). It returns nil when ctx ends or the session closes.
func (c *Client) ServeSOCKS(ctx context.Context, ln net.Listener) error {
	return c.serveListener(ctx, ln, func(ctx context.Context, conn net.Conn) {
		stop := context.AfterFunc(ctx, func() { mux.Abort(conn) })
		_ = conn.SetDeadline(time.Now().Add(mux.OpenTimeout))
		target, err := socksHandshake(conn)
		if err != nil {
			stop()
			c.log.Debug("socks handshake failed", "from", conn.RemoteAddr(), "err", err)
			conn.Close()
			return
		}
		stream, err := c.Dial(ctx, target)
		if err != nil {
			c.log.Warn("socks connect failed", "from", conn.RemoteAddr(), "target", target, "err", err)
			_ = socksReply(conn, socksCodeFor(err))
			stop()
			conn.Close()
			return
		}
		err = socksReply(conn, socksSucceeded)
		_ = conn.SetDeadline(time.Time{})
		if !stop() || err != nil {
			conn.Close()
			mux.Abort(stream)
			return
		}
		_, _, _ = pipe(ctx, conn, stream)
	})
}

func socksCodeFor(err error) byte {
	st, ok := statusOf(err)
	if !ok {
		return socksGeneralFailure
	}
	switch st {
	case mux.StatusNotAllowed:
		return socksNotAllowed
	case mux.StatusConnRefused:
		return socksConnRefused
	case mux.StatusUnreachable:
		return socksHostUnreachable
	default:
		return socksGeneralFailure
	}
}

// socksHandshake reads the greeting and the request and returns the target "host:port". It
// answers unsupported methods, commands and address types itself.
func socksHandshake(rw io.ReadWriter) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != socksVersion {
		return "", fmt.Errorf("not SOCKS5 (version %d)", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(rw, methods); err != nil {
		return "", err
	}
	hasNoAuth := false
	for _, m := range methods {
		hasNoAuth = hasNoAuth || m == socksNoAuth
	}
	if !hasNoAuth {
		_, _ = rw.Write([]byte{socksVersion, socksNoAcceptable})
		return "", errors.New("client offers no no-auth method")
	}
	if _, err := rw.Write([]byte{socksVersion, socksNoAuth}); err != nil {
		return "", err
	}
	var req [4]byte
	if _, err := io.ReadFull(rw, req[:]); err != nil {
		return "", err
	}
	if req[0] != socksVersion {
		return "", fmt.Errorf("bad request version %d", req[0])
	}
	var host string
	switch req[3] {
	case socksAtypIPv4:
		var b [4]byte
		if _, err := io.ReadFull(rw, b[:]); err != nil {
			return "", err
		}
		host = netip.AddrFrom4(b).String()
	case socksAtypIPv6:
		var b [16]byte
		if _, err := io.ReadFull(rw, b[:]); err != nil {
			return "", err
		}
		host = netip.AddrFrom16(b).String()
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(rw, n[:]); err != nil {
			return "", err
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(rw, b); err != nil {
			return "", err
		}
		host = string(b)
	default:
		_ = socksReply(rw, socksAtypNotSupported)
		return "", fmt.Errorf("address type %d not supported", req[3])
	}
	var pb [2]byte
	if _, err := io.ReadFull(rw, pb[:]); err != nil {
		return "", err
	}
	if req[1] != socksConnect {
		_ = socksReply(rw, socksCommandNotSupported)
		return "", fmt.Errorf("command %d not supported", req[1])
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:]))))
	if err := checkAddrText(target); err != nil {
		_ = socksReply(rw, socksGeneralFailure)
		return "", err
	}
	return target, nil
}

// socksReply sends a reply with an unspecified bound address: the host's local address is not
// the viewer's business.
func socksReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{socksVersion, code, 0, socksAtypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}
