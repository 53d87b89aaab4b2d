package mux

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
)

// yamux settings. See docs/tunnel.md for the reasoning.
const (
	// StreamWindow is the largest yamux receive window per stream. Throughput per stream is
	// capped at window ÷ RTT, and yamux returns credit in half-window steps, so a stream has
	// between half and all of it in flight: 32 MiB at a 150 ms path (200 ms under load) is
	// 80–160 MB/s, about what one SCTP association carries (16 MiB held the 150 ms vnet path
	// near 60 MB/s; 8 MiB at ≈ 28–55 MB/s). yamux grows the window from 256 KiB only as the
	// reader keeps up, so idle streams do not pin 32 MiB each.
	StreamWindow = 32 << 20
	// AcceptBacklog bounds the streams waiting for Accept; yamux resets streams beyond it.
	AcceptBacklog = 256
	// KeepAliveInterval is how often yamux pings. A missed ping closes the session, which
	// catches a data channel that died without a close.
	KeepAliveInterval = 15 * time.Second
	// ConnectionWriteTimeout bounds a single frame write. A frame can hold a full window, so
	// this is generous.
	ConnectionWriteTimeout = 30 * time.Second
	// StreamOpenTimeout is how long an open may wait for the peer's ACK before yamux gives
	// the session up.
	StreamOpenTimeout = 30 * time.Second
	// StreamCloseTimeout is how long a half-closed stream waits for the peer's FIN before it is
	// reset. It bounds what a peer that never closes can hold, and also how long a half-closed
	// forward may keep receiving.
	StreamCloseTimeout = 5 * time.Minute
)

// YamuxConfig returns the yamux configuration deskport uses on both sides, with yamux's log
// lines routed to logger (nil discards them).
func YamuxConfig(logger *slog.Logger) *yamux.Config {
	return &yamux.Config{
		AcceptBacklog:          AcceptBacklog,
		EnableKeepAlive:        true,
		KeepAliveInterval:      KeepAliveInterval,
		ConnectionWriteTimeout: ConnectionWriteTimeout,
		MaxStreamWindowSize:    StreamWindow,
		StreamOpenTimeout:      StreamOpenTimeout,
		StreamCloseTimeout:     StreamCloseTimeout,
		Logger:                 yamuxLogger{orDiscard(logger).With("component", "yamux")},
	}
}

// NewServerSession starts the host side of a yamux session over conn.
func NewServerSession(conn net.Conn, logger *slog.Logger) (*yamux.Session, error) {
	s, err := yamux.Server(conn, YamuxConfig(logger))
	if err != nil {
		return nil, fmt.Errorf("mux: yamux server: %w", err)
	}
	return s, nil
}

// NewClientSession starts the viewer side of a yamux session over conn. Its opens wait for the
// host's answer without StreamOpenTimeout: the host accepts a one-time code's streams only once
// its owner has accepted the session (up to the host's --consent-timeout, 60 s by default), and
// a 30 s limit ended every such session whose owner took longer. Keepalives still end a session
// whose host is gone, and each open is bounded by its context.
func NewClientSession(conn net.Conn, logger *slog.Logger) (*yamux.Session, error) {
	cfg := YamuxConfig(logger)
	cfg.StreamOpenTimeout = 0
	s, err := yamux.Client(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("mux: yamux client: %w", err)
	}
	return s, nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// yamuxLogger adapts slog to yamux's log.Logger-shaped interface. yamux prefixes its lines with
// "[ERR]", "[WARN]" or "[DEBUG]"; the prefix becomes the level.
type yamuxLogger struct{ l *slog.Logger }

var _ yamux.Logger = yamuxLogger{}

func (y yamuxLogger) Print(v ...any)                 { y.log(fmt.Sprint(v...)) }
func (y yamuxLogger) Printf(format string, v ...any) { y.log(fmt.Sprintf(format, v...)) }
func (y yamuxLogger) Println(v ...any)               { y.log(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (y yamuxLogger) log(msg string) {
	level := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{{"[ERR]", slog.LevelError}, {"[WARN]", slog.LevelWarn}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}} {
		if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
			level, msg = p.level, strings.TrimSpace(rest)
			break
		}
	}
	msg = strings.TrimPrefix(msg, "yamux: ")
	if level == slog.LevelError && teardown(msg) {
		level = slog.LevelDebug
	}
	y.l.Log(context.Background(), level, msg)
}

// teardown says whether a yamux error is only the session's connection ending under it: a frame
// header that could not be read or written because the data channel or the lane had closed, or
// SCTP was already shutting the association down. yamux logs those at [ERR] — its reader skips
// the ones that say "closed", its writer none — and a copy or forward that ended well printed
// them on the viewer's terminal (even with -q) and in the host's log. What the session's end
// means for the user is said where it is handled (a forward's or a copy's own error), so these
// go to the debug log.
func teardown(msg string) bool {
	rest, ok := strings.CutPrefix(msg, "Failed to write header: ")
	if !ok {
		rest, ok = strings.CutPrefix(msg, "Failed to read header: ")
	}
	// "abort chunk": the peer aborted the SCTP association (a host closing its sessions at
	// the end of a drain); the viewer then says "the connection to the host ended".
	return ok && (strings.Contains(rest, "use of closed network connection") ||
		strings.Contains(rest, "non-established state") || strings.Contains(rest, "closed pipe") ||
		strings.Contains(rest, "abort chunk"))
}
