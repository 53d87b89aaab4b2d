package clipboard

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deskport/deskport/mux"
)

// DefaultPollInterval is how often the host looks for clipboard changes.
const DefaultPollInterval = 500 * time.Millisecond

// Server is the host side. Its zero value syncs CLIPBOARD on $DISPLAY with a 1 MiB limit.
type Server struct {
	// Display is the X display (":0"); empty means $DISPLAY.
	Display string
	// MaxBytes caps a text either way; zero means DefaultMaxBytes. A larger set is refused
	// with an error message on the stream and nothing is set; a larger host text is not sent.
	MaxBytes int
	// PollInterval is how often the host selection is checked; zero means DefaultPollInterval.
	PollInterval time.Duration
	// Primary also sets the PRIMARY selection (middle-click paste) on a viewer's set. Changes
	// are only watched on CLIPBOARD: PRIMARY changes with every mouse selection.
	Primary bool
	// SendInitial pushes the host's clipboard as it is when the stream opens. Off by default:
	// a viewer sees only what is copied while it is connected.
	SendInitial bool
	// Logger receives failures; nil discards.
	Logger *slog.Logger
	// Open, when set, gives the clipboard to sync instead of X11's (Display and Primary are
	// then unused): a GNOME session's through Mutter. It is called once per stream; a Board
	// that is an io.Closer is closed when the stream ends.
	Open func(ctx context.Context) (Board, error)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// hostState is the last text known to be on the host's clipboard, so that a viewer's own set
// is not echoed back and an unchanged clipboard is not resent.
type hostState struct {
	mu   sync.Mutex
	last [32]byte
	have bool
}

// HandleStream serves a KindClipboard stream whose open request has not been answered yet; it
// has the mux.Handler shape and writes the reply itself. It answers OK only after it
// has looked at the host's clipboard, so a copy made after the viewer's open returns is always
// reported as a change.
func (s *Server) HandleStream(ctx context.Context, stream net.Conn, req mux.Request) {
	defer stream.Close()
	reply := func(st mux.Status, msg string) error {
		_ = stream.SetWriteDeadline(time.Now().Add(mux.OpenTimeout))
		defer stream.SetWriteDeadline(time.Time{})
		return mux.WriteReply(stream, mux.Reply{Status: st, Message: msg})
	}
	if len(req.Payload) != 1 || req.Payload[0] != Version {
		_ = reply(mux.StatusUnsupported, fmt.Sprintf("clipboard protocol version %v is not supported; this host speaks %d", req.Payload, Version))
		return
	}
	b, err := s.board(ctx)
	if err != nil {
		_ = reply(mux.StatusUnsupported, err.Error())
		return
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	if err := s.serve(ctx, stream, b, func() error { return reply(mux.StatusOK, "") }); err != nil {
		s.logger().Warn("clipboard stream ended", "err", err)
	}
}

// Serve syncs the clipboard over stream until ctx ends or the stream closes. It returns nil
// when either happens normally.
func (s *Server) Serve(ctx context.Context, stream net.Conn) error {
	b, err := s.board(ctx)
	if err != nil {
		_ = writeMessage(stream, MsgError, []byte(err.Error()))
		return err
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	return s.serve(ctx, stream, b, nil)
}

// board opens the host clipboard: Open's, or X11's through xclip.
func (s *Server) board(ctx context.Context) (Board, error) {
	if s.Open != nil {
		return s.Open(ctx)
	}
	x, err := newXclip(s.Display)
	if err != nil {
		return nil, err
	}
	return &xclipBoard{x: x, primary: s.Primary}, nil
}

// serve runs the stream; ready, when set, is called once the starting point is taken.
func (s *Server) serve(ctx context.Context, stream net.Conn, x Board, ready func() error) error {
	limit := s.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	interval := s.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	log := s.logger()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { abortConn(stream) })
	defer stop()

	var wmu sync.Mutex
	send := func(t byte, body []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = stream.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return writeMessage(stream, t, body)
	}
	st := &hostState{}
	if !s.SendInitial {
		if text, ok, _, err := x.Read(ctx, limit); err == nil && ok {
			st.last, st.have = sha256.Sum256(text), true
		}
	}
	if ready != nil {
		if err := ready(); err != nil {
			return nil
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		s.poll(ctx, x, st, limit, interval, send, log)
	}()

	for {
		t, body, over, err := readMessage(stream, limit)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, ErrBadMessage) {
				_ = send(MsgError, []byte(err.Error()))
			}
			return fmt.Errorf("clipboard: read: %w", err)
		}
		if t != MsgSet {
			_ = send(MsgError, fmt.Appendf(nil, "message type %d is not sent by a viewer", t))
			return fmt.Errorf("clipboard: %w: viewer sent message type %d", ErrBadMessage, t)
		}
		var reply []byte
		switch {
		case over > 0:
			reply = fmt.Appendf(nil, "clipboard text of %d bytes refused: the limit is %d bytes; nothing was set", over, limit)
		case !utf8.Valid(body):
			reply = []byte("clipboard text refused: it is not UTF-8; nothing was set")
		default:
			if err := s.set(ctx, x, st, body); err != nil {
				log.Warn("clipboard set failed", "err", err)
				reply = []byte(err.Error())
			}
		}
		t = MsgAck
		if reply != nil {
			t = MsgError
		}
		if err := send(t, reply); err != nil {
			return nil
		}
	}
}

// set puts text on the host, holding the state so the poller neither echoes the text back nor
// reports the old text as a change in between.
func (s *Server) set(ctx context.Context, x Board, st *hostState, text []byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.last, st.have = sha256.Sum256(text), true
	return x.Write(ctx, text)
}

// poll sends the host's clipboard whenever its hash changes: it looks every interval, or when
// the board says it changed.
func (s *Server) poll(ctx context.Context, x Board, st *hostState, limit int, interval time.Duration, send func(byte, []byte) error, log *slog.Logger) {
	changed := x.Changed()
	var tick <-chan time.Time
	if changed == nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-tick:
			case <-changed:
			}
		}
		st.mu.Lock()
		text, ok, tooLarge, err := x.Read(ctx, limit)
		if err != nil {
			st.mu.Unlock()
			log.Debug("clipboard read failed", "err", err)
			continue
		}
		if !ok {
			st.mu.Unlock()
			continue
		}
		if tooLarge {
			st.mu.Unlock()
			log.Debug("host clipboard text over the limit not sent", "limit", limit)
			continue
		}
		sum := sha256.Sum256(text)
		changed := !st.have || sum != st.last
		st.last, st.have = sum, true
		st.mu.Unlock()
		if !changed || !utf8.Valid(text) {
			continue
		}
		if err := send(MsgUpdate, text); err != nil {
			return
		}
	}
}

func abortConn(c net.Conn) {
	_ = c.SetDeadline(time.Unix(1, 0))
	_ = c.Close()
}
