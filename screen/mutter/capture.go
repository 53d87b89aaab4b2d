package mutter

import (
	"context"

	"github.com/deskport/deskport/screen/pipewire"
)

// Capturer opens a capture of the default monitor's stream (Config.Connector's, or the
// primary one).
func (s *Session) Capturer(ctx context.Context) (*pipewire.Capturer, error) {
	return s.CapturerFor(ctx, s.def)
}

// CapturerFor opens a capture of monitor index's stream (-1: the whole desktop, an area stream
// of all monitors, or the only monitor): its own PipeWire connection, waiting for the first
// frame. From then on the session's absolute pointer motion is in that stream's pixels. Close
// it before the Session; several may be open at once.
func (s *Session) CapturerFor(ctx context.Context, index int) (*pipewire.Capturer, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	i, err := s.stream(index)
	if err != nil {
		return nil, err
	}
	st := &s.streams[i]
	conn, err := pipewire.Dial(s.cfg.RuntimeDir)
	if err != nil {
		return nil, err
	}
	c, err := pipewire.Open(ctx, pipewire.Config{Conn: conn, Node: st.node, FirstFrame: s.cfg.Timeout, MaxFPS: s.cfg.MaxFPS, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.active.Store(int32(i))
	return c, nil
}
