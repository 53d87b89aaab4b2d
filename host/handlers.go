package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/tunnel"
)

// gate wraps a stream handler with a capability check: a granted stream is answered OK and
// handed to h; a refused one gets a reply that names the missing capability.
func gate(granted bool, capability string, h func(ctx context.Context, stream net.Conn, req tunnel.Request)) tunnel.StreamHandler {
	return func(ctx context.Context, stream net.Conn, req tunnel.Request) {
		_ = stream.SetWriteDeadline(time.Now().Add(tunnel.OpenTimeout))
		if !granted || h == nil {
			msg := fmt.Sprintf("this session was not granted %s", capability)
			if h == nil {
				msg = fmt.Sprintf("this host does not offer %s", capability)
			}
			_ = tunnel.WriteReply(stream, tunnel.Reply{Status: tunnel.StatusNotAllowed, Message: msg})
			_ = stream.Close()
			return
		}
		if err := tunnel.WriteReply(stream, tunnel.Reply{Status: tunnel.StatusOK}); err != nil {
			_ = stream.Close()
			return
		}
		_ = stream.SetWriteDeadline(time.Time{})
		h(ctx, stream, req)
	}
}

// bulkHandlers serve the tunnel channel's non-forward kinds: files.
func (a *Agent) bulkHandlers(caps Caps, log *slog.Logger) map[tunnel.Kind]tunnel.StreamHandler {
	return map[tunnel.Kind]tunnel.StreamHandler{}
}

// interactiveHandlers serve the interactive channel: input, control, clipboard.
func (a *Agent) interactiveHandlers(conn *session.Conn, caps Caps, log *slog.Logger) map[tunnel.Kind]tunnel.StreamHandler {
	return map[tunnel.Kind]tunnel.StreamHandler{}
}
