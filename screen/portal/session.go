package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/deskport/deskport/screen/pipewire"
)

// Session is one portal screen-cast session (a remote-desktop session with a screen cast when
// the portal offers RemoteDesktop and Config.Input asked for it) with one monitor stream. Its
// methods are safe for concurrent use.
type Session struct {
	cfg    Config
	log    *slog.Logger
	conn   *dbus.Conn
	portal dbus.BusObject
	handle dbus.ObjectPath
	remote bool // a RemoteDesktop session: input works
	// noInput says why input does not work (ErrNoInput or ErrInputDenied).
	noInput error
	node    uint32
	width   int
	height  int
	token   string // the restore token Start returned
	// prompted: Config.OnPrompt was called (once per Open).
	prompted bool
	// persist: the session asked the portal to remember the choice (persist_mode).
	persist bool

	signals chan *dbus.Signal
	done    chan struct{} // closed when the watcher goroutine ends
	closed  chan struct{} // closed when the portal closed the session or Close was called

	mu        sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// Versions are the portal interfaces' versions on a bus; zero means absent.
type Versions struct {
	ScreenCast, RemoteDesktop uint32
}

var tokenSeq atomic.Uint64

// Available reports the portal's ScreenCast and RemoteDesktop versions on the bus at address
// ("" means the session bus); ErrNotAvailable when it has no ScreenCast that records monitors.
// Asking starts the portal if the bus activates it on demand.
func Available(ctx context.Context, address string) (Versions, error) {
	conn, err := connect(address)
	if err != nil {
		return Versions{}, err
	}
	defer conn.Close()
	return versions(ctx, conn)
}

func versions(ctx context.Context, conn *dbus.Conn) (Versions, error) {
	var v Versions
	obj := conn.Object(desktopName, desktopPath)
	sc, err := property(ctx, obj, screenCastIf, "version")
	if err != nil {
		var de dbus.Error
		if errors.As(err, &de) || errors.Is(err, context.DeadlineExceeded) {
			return v, fmt.Errorf("%w (%v)", ErrNotAvailable, err)
		}
		return v, fmt.Errorf("portal: asking for the ScreenCast portal: %w", err)
	}
	v.ScreenCast, _ = sc.(uint32)
	if types, err := property(ctx, obj, screenCastIf, "AvailableSourceTypes"); err == nil {
		if t, _ := types.(uint32); t&sourceMonitor == 0 {
			return v, fmt.Errorf("%w (its ScreenCast cannot record a monitor: source types %d)", ErrNotAvailable, t)
		}
	}
	if rd, err := property(ctx, obj, remoteDeskIf, "version"); err == nil {
		v.RemoteDesktop, _ = rd.(uint32)
	}
	return v, nil
}

func property(ctx context.Context, obj dbus.BusObject, iface, name string) (any, error) {
	var v dbus.Variant
	if err := obj.CallWithContext(ctx, propertiesIf+".Get", 0, iface, name).Store(&v); err != nil {
		return nil, err
	}
	return v.Value(), nil
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
		return nil, fmt.Errorf("portal: cannot connect to the session bus (%w); run the host inside the desktop session, with DBUS_SESSION_BUS_ADDRESS set", err)
	}
	return conn, nil
}

// Open asks the portal for a session recording one monitor and starts it: CreateSession,
// (RemoteDesktop.SelectDevices,) ScreenCast.SelectSources, Start. Start may wait for a person
// to click Share (Config.OnPrompt says so after Config.PromptAfter); with a restore token the
// portal honours, it does not. The session lives until Close, on its own bus connection: if
// the process dies, the portal ends the session.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.PromptAfter <= 0 {
		cfg.PromptAfter = 2 * time.Second
	}
	if cfg.ConsentTimeout <= 0 {
		cfg.ConsentTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := connect(cfg.Bus)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, log: log, conn: conn, portal: conn.Object(desktopName, desktopPath),
		signals: make(chan *dbus.Signal, 64), done: make(chan struct{}), closed: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		if s.handle != "" {
			s.conn.Object(desktopName, s.handle).Go(sessionIf+".Close", dbus.FlagNoReplyExpected, nil)
		}
		conn.Close()
		return nil, err
	}
	go s.watch()
	log.Info("portal: screen-cast session started", "session", s.handle, "node", s.node, "width", s.width, "height", s.height,
		"input", s.remote, "restore_token", s.token != "")
	return s, nil
}

func (s *Session) open(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	v, err := versions(cctx, s.conn)
	if err != nil {
		return err
	}
	s.remote = s.cfg.Input && v.RemoteDesktop > 0
	s.noInput = ErrNoInput
	if s.cfg.Input && !s.remote {
		s.log.Warn(ErrNoInput.Error())
	}
	// Every Response comes to this connection on a request path under ours.
	s.conn.Signal(s.signals)
	sender := strings.ReplaceAll(strings.TrimPrefix(s.conn.Names()[0], ":"), ".", "_")
	for _, m := range [][]dbus.MatchOption{
		{dbus.WithMatchPathNamespace(dbus.ObjectPath(desktopPath + "/request/" + sender)), dbus.WithMatchInterface(requestIf), dbus.WithMatchMember("Response")},
		{dbus.WithMatchPathNamespace(dbus.ObjectPath(desktopPath + "/session/" + sender)), dbus.WithMatchInterface(sessionIf), dbus.WithMatchMember("Closed")},
	} {
		if err := s.conn.AddMatchSignalContext(cctx, m...); err != nil {
			return fmt.Errorf("portal: AddMatch: %w", err)
		}
	}
	iface := screenCastIf
	if s.remote {
		iface = remoteDeskIf
	}
	res, err := s.request(ctx, sender, iface+".CreateSession", nil, map[string]dbus.Variant{"session_handle_token": dbus.MakeVariant(newToken())})
	if err != nil && s.remote && !errors.Is(err, ErrDeclined) {
		// xdg-desktop-portal 1.16 offers RemoteDesktop when any installed backend has it, even
		// one for another desktop (-gnome installed next to -wlr on sway), whose
		// CreateSession then fails. The screen cast alone still works.
		s.log.Warn("portal: the portal's RemoteDesktop cannot create a session on this desktop; sharing view-only", "err", err)
		s.remote = false
		iface = screenCastIf
		res, err = s.request(ctx, sender, iface+".CreateSession", nil, map[string]dbus.Variant{"session_handle_token": dbus.MakeVariant(newToken())})
	}
	if err != nil {
		return err
	}
	switch h := res["session_handle"].Value().(type) {
	case string: // ScreenCast before version 5
		s.handle = dbus.ObjectPath(h)
	case dbus.ObjectPath:
		s.handle = h
	}
	if !s.handle.IsValid() || s.handle == "" {
		return fmt.Errorf("portal: CreateSession returned no session handle (%v)", res)
	}
	// persist_mode and the restore token go to the call that picks what is shared: the
	// devices of a remote-desktop session (RemoteDesktop version 2), the sources otherwise
	// (ScreenCast version 4).
	persist := func(opts map[string]dbus.Variant) {
		s.persist = true
		opts["persist_mode"] = dbus.MakeVariant(uint32(persistUntilRev))
		if s.cfg.RestoreToken != "" {
			opts["restore_token"] = dbus.MakeVariant(s.cfg.RestoreToken)
		}
	}
	if s.remote {
		opts := map[string]dbus.Variant{"types": dbus.MakeVariant(uint32(deviceKeyboard | devicePointer))}
		if v.RemoteDesktop >= 2 {
			persist(opts)
		}
		if _, err := s.request(ctx, sender, remoteDeskIf+".SelectDevices", []any{s.handle}, opts); err != nil {
			return err
		}
	}
	opts := map[string]dbus.Variant{"types": dbus.MakeVariant(uint32(sourceMonitor)), "multiple": dbus.MakeVariant(false)}
	if v.ScreenCast >= 2 {
		mode := uint32(cursorHidden)
		if modes, err := property(cctx, s.portal, screenCastIf, "AvailableCursorModes"); err == nil {
			if m, _ := modes.(uint32); s.cfg.Cursor && m&cursorEmbedded != 0 {
				mode = cursorEmbedded
			} else if m&cursorHidden == 0 {
				mode = 0 // neither offered: leave it to the portal
			}
		}
		if mode != 0 {
			opts["cursor_mode"] = dbus.MakeVariant(mode)
		}
	}
	if !s.remote && v.ScreenCast >= 4 {
		persist(opts)
	}
	if _, err := s.request(ctx, sender, screenCastIf+".SelectSources", []any{s.handle}, opts); err != nil {
		return err
	}
	res, err = s.request(ctx, sender, iface+".Start", []any{s.handle, ""}, map[string]dbus.Variant{})
	if err != nil {
		return err
	}
	if t, ok := res["restore_token"].Value().(string); ok {
		s.token = t
	}
	var streams []struct {
		Node  uint32
		Props map[string]dbus.Variant
	}
	if v, ok := res["streams"]; !ok {
		return fmt.Errorf("portal: Start returned no stream (%v)", res)
	} else if err := dbus.Store([]any{v.Value()}, &streams); err != nil || len(streams) == 0 {
		return fmt.Errorf("portal: Start returned no usable stream (%v): %v", v, err)
	}
	s.node = streams[0].Node
	if size, ok := streams[0].Props["size"].Value().([]any); ok && len(size) == 2 {
		w, _ := size[0].(int32)
		h, _ := size[1].(int32)
		s.width, s.height = int(w), int(h)
	}
	if s.remote {
		d, _ := res["devices"].Value().(uint32)
		if d&(devicePointer|deviceKeyboard) == 0 {
			// GNOME's dialog has "Allow remote interaction" off unless the person turns it on.
			s.log.Warn(ErrInputDenied.Error(), "devices", d)
			s.remote = false
			s.noInput = ErrInputDenied
		} else if d&devicePointer == 0 || d&deviceKeyboard == 0 {
			s.log.Warn("portal: the remote-desktop session was granted only some devices", "devices", d)
		}
	}
	if s.remote {
		if err := s.warmUp(); err != nil {
			return fmt.Errorf("portal: warming up the virtual devices: %w", err)
		}
	}
	return nil
}

// warmUp sends a pointer nudge and a modifier press and release: on a headless GNOME seat
// Mutter drops the first event of each virtual device it just created (docs/wayland.md), and
// GNOME's portal creates its devices through Mutter. The nudge is relative, one pixel and
// back, so the pointer of a real desktop does not jump.
func (s *Session) warmUp() error {
	const shiftLeft = 42
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"NotifyPointerMotion", []any{1.0, 0.0}},
		{"NotifyPointerMotion", []any{-1.0, 0.0}},
		{"NotifyKeyboardKeycode", []any{int32(shiftLeft), pressed}},
		{"NotifyKeyboardKeycode", []any{int32(shiftLeft), released}},
	} {
		if err := s.notify(c.method, c.args...); err != nil {
			return err
		}
	}
	return nil
}

func newToken() string {
	return fmt.Sprintf("deskport_%d_%d", os.Getpid(), tokenSeq.Add(1))
}

// request calls a portal method that answers through a Request object: args, then an options
// map that gets a fresh handle_token. It subscribes (in open) before calling, so the Response
// cannot be missed, and waits for it: CreateSession up to Config.Timeout, the others up to
// ConsentTimeout, since they may wait for a person (Config.OnPrompt after PromptAfter).
func (s *Session) request(ctx context.Context, sender, method string, args []any, opts map[string]dbus.Variant) (map[string]dbus.Variant, error) {
	token := newToken()
	opts["handle_token"] = dbus.MakeVariant(token)
	want := dbus.ObjectPath(desktopPath + "/request/" + sender + "/" + token)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	var handle dbus.ObjectPath
	err := s.portal.CallWithContext(cctx, method, 0, append(args, opts)...).Store(&handle)
	cancel()
	if err != nil {
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.UnknownMethod") {
			return nil, fmt.Errorf("%w (%s: %v)", ErrNotAvailable, method, err)
		}
		return nil, fmt.Errorf("portal: %s: %w", method, err)
	}
	// A person may be asked in Start (GNOME's and KDE's dialogs) or already when the sources
	// are chosen (a chooser program of xdg-desktop-portal-wlr may run there).
	start := !strings.HasSuffix(method, ".CreateSession")
	wait := s.cfg.Timeout
	if start {
		wait = s.cfg.ConsentTimeout
	}
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	var prompt <-chan time.Time
	if start {
		t := time.NewTimer(s.cfg.PromptAfter)
		defer t.Stop()
		prompt = t.C
	}
	began := time.Now()
	for {
		select {
		case sig := <-s.signals:
			if sig.Name != responseSignal || (sig.Path != want && sig.Path != handle) {
				continue
			}
			var (
				code    uint32
				results map[string]dbus.Variant
			)
			if err := dbus.Store(sig.Body, &code, &results); err != nil {
				return nil, fmt.Errorf("portal: %s: a malformed Response: %w", method, err)
			}
			s.log.Debug("portal: response", "method", method, "code", code, "took", time.Since(began))
			switch code {
			case responseSuccess:
				return results, nil
			case responseCancelled:
				return nil, fmt.Errorf("%w (%s)", ErrDeclined, method)
			default:
				return nil, fmt.Errorf("portal: %s failed (response %d); the desktop's portal log may say why", method, code)
			}
		case <-prompt:
			if s.prompted {
				continue
			}
			s.prompted = true
			if s.cfg.OnPrompt != nil {
				s.cfg.OnPrompt(s.persist)
			} else {
				s.log.Warn(Prompt(s.persist))
			}
		case <-wctx.Done():
			// Withdraw the request, so a dialog does not stay on the screen.
			// No waiting for the reply: a portal backend blocked on its dialog (xdpw runs its
			// chooser synchronously) answers only when the dialog ends.
			s.conn.Object(desktopName, handle).Go(requestIf+".Close", dbus.FlagNoReplyExpected, nil)
			if start && ctx.Err() == nil {
				return nil, fmt.Errorf("%w (waited %v)", ErrNoConsent, wait)
			}
			return nil, fmt.Errorf("portal: %s: no response in %v: %w", method, wait, wctx.Err())
		}
	}
}

// watch notices when the portal closes the session (the person stopped sharing, or the
// compositor ended it).
func (s *Session) watch() {
	defer close(s.done)
	for sig := range s.signals {
		if sig.Name == closedSignal && sig.Path == s.handle {
			select {
			case <-s.closed:
			default:
				s.log.Warn("portal: the desktop closed the screen-cast session (sharing was stopped on this machine)")
				s.markClosed()
			}
		}
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

// Node is the PipeWire node id of the session's stream.
func (s *Session) Node() uint32 { return s.node }

// Size is the stream's size in pixels as the portal announced it (zero if it did not).
func (s *Session) Size() (w, h int) { return s.width, s.height }

// RestoreToken is the token Start returned ("" if the portal gave none): pass it as
// Config.RestoreToken to start the next session without asking. It replaces the one this
// session was started with, which the portal no longer honours.
func (s *Session) RestoreToken() string { return s.token }

// CanInput reports whether the session has the portal's keyboard and pointer.
func (s *Session) CanInput() bool { return s.remote }

// NoInput says why the session has no input (ErrNoInput, ErrInputDenied); nil when it has.
func (s *Session) NoInput() error {
	if s.remote {
		return nil
	}
	return s.noInput
}

// Done is closed when the session ended (Close, or the portal closed it).
func (s *Session) Done() <-chan struct{} { return s.closed }

// Capturer opens a capture of the session's stream on a PipeWire connection the portal hands
// out (OpenPipeWireRemote), waiting for the first frame. Close it before the Session; several
// may be open at once.
func (s *Session) Capturer(ctx context.Context) (*pipewire.Capturer, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var fd dbus.UnixFD
	if err := s.portal.CallWithContext(cctx, screenCastIf+".OpenPipeWireRemote", 0, s.handle, map[string]dbus.Variant{}).Store(&fd); err != nil {
		return nil, fmt.Errorf("portal: OpenPipeWireRemote: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pipewire-portal")
	if f == nil {
		return nil, errors.New("portal: OpenPipeWireRemote returned no descriptor")
	}
	return pipewire.Open(ctx, pipewire.Config{Conn: f, Node: s.node, FirstFrame: s.cfg.Timeout, Logger: s.log})
}

// notify sends one RemoteDesktop input call and waits for its reply. Unlike Mutter's API,
// the portal must be waited for: xdg-desktop-portal handles every method call in a thread of
// a pool (G_DBUS_INTERFACE_SKELETON_FLAGS_HANDLE_METHOD_INVOCATIONS_IN_THREAD), so calls sent
// without waiting overtake each other. Measured on GNOME's portal: typed "Hi" arrived as "I"
// (the H's release and Shift's came after the i), and a click went missing. The reply comes
// once the portal has passed the event on, in order, to its backend.
func (s *Session) notify(method string, args ...any) error {
	return s.notifyOpts(method, nil, args...)
}

// finish marks a smooth scroll as complete (NotifyPointerAxis), so kinetic scrolling does not
// go on after it.
var finish = map[string]dbus.Variant{"finish": dbus.MakeVariant(true)}

// notifyTimeout bounds one input call's reply.
const notifyTimeout = 2 * time.Second

func (s *Session) notifyOpts(method string, opts map[string]dbus.Variant, args ...any) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if !s.remote {
		return s.noInput
	}
	if opts == nil {
		opts = map[string]dbus.Variant{}
	}
	all := append([]any{s.handle, opts}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	if err := s.portal.CallWithContext(ctx, remoteDeskIf+"."+method, 0, all...).Err; err != nil {
		return fmt.Errorf("portal: %s: %w", method, err)
	}
	return nil
}

// Close ends the session and closes its bus connection. It is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ended := false
		select {
		case <-s.closed:
			ended = true
		default:
		}
		s.markClosed()
		if !ended {
			if err := s.conn.Object(desktopName, s.handle).CallWithContext(ctx, sessionIf+".Close", 0).Err; err != nil {
				s.log.Debug("portal: closing the session", "err", err)
			}
		}
		// Closing the connection closes the signal channel, which ends watch.
		s.closeErr = s.conn.Close()
		<-s.done
	})
	return s.closeErr
}
