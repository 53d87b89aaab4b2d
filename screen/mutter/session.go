package mutter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
)

// Session is one Mutter remote-desktop session with a linked screen cast of every monitor (a
// stream each) and the clipboard. Its methods are safe for concurrent use.
type Session struct {
	cfg  Config
	log  *slog.Logger
	conn *dbus.Conn
	rd   dbus.BusObject
	// One stream per monitor, all recorded before Start (Mutter 43 starts no stream recorded
	// later), in Monitors order; def is the one Config.Connector names, or the primary.
	streams []monStream
	nmon    int // streams[:nmon] are the monitors'; one more records the whole desktop
	def     int
	active  atomic.Int32 // the stream absolute pointer motion is relative to (CapturerFor)

	clip    clipState // the clipboard (clipboard.go)
	signals chan *dbus.Signal
	// sigMu guards the session's own sends into signals (barrier) against Close, which
	// closes the channel (with the connection).
	sigMu     sync.RWMutex
	sigClosed bool
	done      chan struct{} // closed when the watcher goroutine ends
	closed    chan struct{} // closed when Mutter closed the session or Close was called

	mu        sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// Available reports whether the bus at address ("" means the session bus) has Mutter's
// ScreenCast and RemoteDesktop services, for the host's automatic backend choice.
func Available(ctx context.Context, address string) error {
	conn, err := connect(address)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, name := range []string{screenCastName, remoteDesktopName} {
		var has bool
		if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil {
			return fmt.Errorf("mutter: asking the session bus for %s: %w", name, err)
		}
		if !has {
			return ErrNotAvailable
		}
	}
	return nil
}

func connect(address string) (*dbus.Conn, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	if address == "" {
		conn, err = dbus.ConnectSessionBus()
	} else {
		conn, err = dbus.Connect(address)
	}
	if err != nil {
		return nil, fmt.Errorf("mutter: cannot connect to the session bus (%w); run the host inside the GNOME session, with DBUS_SESSION_BUS_ADDRESS set", err)
	}
	return conn, nil
}

// Open creates a remote-desktop session, records a monitor in a screen-cast session linked to
// it, starts both and waits until the PipeWire stream is announced. The session lives until
// Close, on its own bus connection: if the process dies, Mutter ends the session.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := connect(cfg.Bus)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, log: log, conn: conn, signals: make(chan *dbus.Signal, 64),
		done: make(chan struct{}), closed: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	go s.watch()
	def := s.streams[s.def]
	log.Info("mutter: remote desktop session started", "monitors", len(s.streams), "monitor", def.mon.Name, "stream", def.path, "node", def.node, "width", def.width, "height", def.height)
	return s, nil
}

func (s *Session) open(ctx context.Context) error {
	rdRoot := s.conn.Object(remoteDesktopName, remoteDesktopPath)
	var rdPath dbus.ObjectPath
	if err := rdRoot.CallWithContext(ctx, remoteDesktopName+".CreateSession", 0).Store(&rdPath); err != nil {
		return s.callError("RemoteDesktop.CreateSession", err)
	}
	s.rd = s.conn.Object(remoteDesktopName, rdPath)
	id, err := s.rd.GetProperty(rdSessionIface + ".SessionId")
	if err != nil {
		return s.callError("RemoteDesktop.Session.SessionId", err)
	}
	sid, _ := id.Value().(string)

	scRoot := s.conn.Object(screenCastName, screenCastPath)
	var scPath dbus.ObjectPath
	// Animations off while the session runs, as a remote desktop wants (they cost bandwidth
	// and look poor at video frame rates). Mutter 43.8's default plugin still zooms a window
	// in as it maps.
	props := map[string]dbus.Variant{"remote-desktop-session-id": dbus.MakeVariant(sid), "disable-animations": dbus.MakeVariant(true)}
	if err := scRoot.CallWithContext(ctx, screenCastName+".CreateSession", 0, props).Store(&scPath); err != nil {
		return s.callError("ScreenCast.CreateSession", err)
	}
	cursor := uint32(cursorHidden)
	if s.cfg.Cursor {
		cursor = cursorEmbedded
	}
	if err := s.record(ctx, s.conn.Object(screenCastName, scPath), cursor); err != nil {
		return err
	}

	// Signals: the streams' node ids, the end of the session, the clipboard.
	s.conn.Signal(s.signals)
	matches := [][]dbus.MatchOption{
		{dbus.WithMatchObjectPath(rdPath), dbus.WithMatchInterface(rdSessionIface), dbus.WithMatchMember("Closed")},
		{dbus.WithMatchObjectPath(rdPath), dbus.WithMatchInterface(rdSessionIface), dbus.WithMatchMember("SelectionOwnerChanged")},
		{dbus.WithMatchObjectPath(rdPath), dbus.WithMatchInterface(rdSessionIface), dbus.WithMatchMember("SelectionTransfer")},
	}
	for _, st := range s.streams {
		matches = append(matches, []dbus.MatchOption{dbus.WithMatchObjectPath(st.path), dbus.WithMatchInterface(scStreamIface), dbus.WithMatchMember("PipeWireStreamAdded")})
	}
	for _, m := range matches {
		if err := s.conn.AddMatchSignalContext(ctx, m...); err != nil {
			return s.callError("AddMatch", err)
		}
	}
	// Starting the remote-desktop session starts the linked screen cast.
	if err := s.rd.CallWithContext(ctx, rdSessionIface+".Start", 0).Err; err != nil {
		return s.callError("RemoteDesktop.Session.Start", err)
	}
	for waiting := len(s.streams); waiting > 0; {
		select {
		case sig := <-s.signals:
			switch {
			case sig.Name == scStreamIface+".PipeWireStreamAdded" && len(sig.Body) == 1:
				for i := range s.streams {
					if st := &s.streams[i]; st.path == sig.Path && st.node == 0 {
						st.node, _ = sig.Body[0].(uint32)
						waiting--
					}
				}
			case sig.Name == rdSessionIface+".Closed":
				return fmt.Errorf("mutter: the session was closed while starting")
			}
		case <-ctx.Done():
			s.rd.Call(rdSessionIface+".Stop", 0)
			return fmt.Errorf("mutter: Mutter never announced the PipeWire stream (waited %v): %w", s.cfg.Timeout, ctx.Err())
		}
	}
	for i := range s.streams {
		st := &s.streams[i]
		if v, err := s.conn.Object(screenCastName, st.path).GetProperty(scStreamIface + ".Parameters"); err == nil {
			if p, ok := v.Value().(map[string]dbus.Variant); ok {
				if size, ok := p["size"].Value().([]any); ok && len(size) == 2 {
					w, _ := size[0].(int32)
					h, _ := size[1].(int32)
					st.width, st.height = int(w), int(h)
				}
			}
		}
	}
	s.active.Store(int32(s.def))
	if err := s.warmUp(); err != nil {
		return fmt.Errorf("mutter: warming up the virtual devices: %w", err)
	}
	return nil
}

// callError explains a failed call: a missing service means this is no GNOME session.
func (s *Session) callError(what string, err error) error {
	var de dbus.Error
	if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
		return ErrNotAvailable
	}
	return fmt.Errorf("mutter: %s: %w", what, err)
}

// watch notices when Mutter closes the session (the user or the compositor ended it).
func (s *Session) watch() {
	defer close(s.done)
	for sig := range s.signals {
		if sig.Path != s.rd.Path() {
			continue
		}
		if sig.Name == barrierSignal {
			close(sig.Body[0].(chan struct{}))
			continue
		}
		if sig.Name != rdSessionIface+".Closed" {
			s.clipSignal(sig)
			continue
		}
		select {
		case <-s.closed: // our own Stop
		default:
			s.log.Warn("mutter: the compositor closed the remote desktop session")
			s.markClosed()
		}
	}
}

// barrierSignal is the name of the session's own marker in its signal channel.
const barrierSignal = "deskport.barrier"

// barrier returns once the watcher has handled every signal that arrived before it was called
// (godbus delivers a signal that precedes a method reply before the reply).
func (s *Session) barrier(ctx context.Context) error {
	done := make(chan struct{})
	s.sigMu.RLock()
	if s.sigClosed {
		s.sigMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.signals <- &dbus.Signal{Path: s.rd.Path(), Name: barrierSignal, Body: []any{done}}:
	case <-ctx.Done():
	}
	s.sigMu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	}
}

func (s *Session) markClosed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
}

// Node is the PipeWire node id of the default monitor's stream.
func (s *Session) Node() uint32 { return s.streams[s.def].node }

// Size is the default monitor's size in pixels, as Mutter announced it (zero if it did not).
func (s *Session) Size() (w, h int) { return s.streams[s.def].width, s.streams[s.def].height }

// Done is closed when the session ended (Close, or Mutter closed it).
func (s *Session) Done() <-chan struct{} { return s.closed }

// call sends one RemoteDesktop.Session call without waiting for the reply, as
// gnome-remote-desktop does: an input event must not wait a round trip for the next, and
// Mutter's reply says nothing an injector could act on. Calls on one connection stay in order.
func (s *Session) call(method string, args ...any) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if err := s.rd.Go(rdSessionIface+"."+method, dbus.FlagNoReplyExpected, nil, args...).Err; err != nil {
		return fmt.Errorf("mutter: %s: %w", method, err)
	}
	return nil
}

// Close stops the session and closes its bus connection. It is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ended := false // by Mutter
		select {
		case <-s.closed:
			ended = true
		default:
		}
		s.markClosed() // first, so that the Closed signal our Stop brings is not a warning
		if !ended {
			if err := s.rd.CallWithContext(ctx, rdSessionIface+".Stop", 0).Err; err != nil {
				s.log.Debug("mutter: stopping the session", "err", err)
			}
		}
		// Closing the connection closes the signal channel, which ends watch.
		s.sigMu.Lock()
		s.sigClosed = true
		s.sigMu.Unlock()
		s.closeErr = s.conn.Close()
		<-s.done
		s.clip.wg.Wait() // pastes being served fail fast on the closed connection
	})
	return s.closeErr
}
