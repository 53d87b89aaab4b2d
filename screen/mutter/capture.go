package mutter

import (
	"context"

	"github.com/deskport/deskport/screen/pipewire"
)

// Capturer opens a capture of the session's stream: its own PipeWire connection, waiting for
// the first frame. Close it before the Session; several may be open at once.
func (s *Session) Capturer(ctx context.Context) (*pipewire.Capturer, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	conn, err := pipewire.Dial(s.cfg.RuntimeDir)
	if err != nil {
		return nil, err
	}
	return pipewire.Open(ctx, pipewire.Config{Conn: conn, Node: s.node, FirstFrame: s.cfg.Timeout, MaxFPS: s.cfg.MaxFPS, Logger: s.log})
}
