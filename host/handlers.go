package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/deskport/deskport/audit"
	"github.com/deskport/deskport/clipboard"
	"github.com/deskport/deskport/files"
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/input/xtest"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen"
)

// gate wraps a stream handler with a capability check: a refused stream gets a reply that names
// the missing capability; a granted one goes to h, which writes its own reply.
func gate(g *openGuard, granted bool, capability string, h mux.Handler) mux.Handler {
	return func(ctx context.Context, stream net.Conn, req mux.Request) {
		if !granted || h == nil {
			g.refused()
			_ = stream.SetWriteDeadline(time.Now().Add(mux.OpenTimeout))
			msg := fmt.Sprintf("this session was not granted %s", capability)
			if h == nil {
				msg = fmt.Sprintf("this host does not offer %s", capability)
			}
			_ = mux.WriteReply(stream, mux.Reply{Status: mux.StatusNotAllowed, Message: msg})
			_ = stream.Close()
			return
		}
		h(ctx, stream, req)
	}
}

// replyOK adapts a handler that expects the open to be answered already.
func replyOK(h mux.Handler) mux.Handler {
	return func(ctx context.Context, stream net.Conn, req mux.Request) {
		_ = stream.SetWriteDeadline(time.Now().Add(mux.OpenTimeout))
		if err := mux.WriteReply(stream, mux.Reply{Status: mux.StatusOK}); err != nil {
			_ = stream.Close()
			return
		}
		_ = stream.SetWriteDeadline(time.Time{})
		h(ctx, stream, req)
	}
}

// pausable drops input while a consent prompt is open, so injected keys can never answer it;
// releases still go through, so nothing stays held.
type pausable struct {
	input.Injector
	paused func() bool
}

func (p pausable) Inject(e input.Event) error {
	if p.paused() && e.Type != input.TypeReleaseAll && !(e.Type == input.TypeKey && !e.Down) && !(e.Type == input.TypeButton && !e.Down) {
		return nil
	}
	return p.Injector.Inject(e)
}

// sessionFiles is one session's file server: the host's root, with every transfer recorded
// in the audit log under the session. nil when file transfer is off.
func (a *Agent) sessionFiles(log *slog.Logger, rec func(audit.Event)) *files.Server {
	if a.cfg.FilesRoot == "" {
		return nil
	}
	fs, err := files.NewServer(files.Config{Root: a.cfg.FilesRoot, Logger: log.With("component", "files"),
		OnTransfer: func(t files.Transfer) {
			e := audit.Event{Type: audit.TypeFile, Path: t.Path, Target: fmt.Sprint(t.Op), BytesIn: t.Bytes, Duration: t.Duration}
			if t.Op != files.OpPut {
				e.BytesIn, e.BytesOut = 0, t.Bytes
			}
			if t.Err != nil {
				e.Error = t.Err.Error()
			}
			rec(e)
		}})
	if err != nil {
		log.Error("file transfer unavailable", "err", err)
		return nil
	}
	return fs
}

// bulkHandlers serve the tunnel channel's non-forward kinds: files.
func (a *Agent) bulkHandlers(fs *files.Server, caps Caps, g *openGuard) map[mux.Kind]mux.Handler {
	var h mux.Handler
	if fs != nil {
		h = replyOK(fs.Handle)
	}
	return map[mux.Kind]mux.Handler{
		mux.KindFilePut: gate(g, caps.Files, "file transfer", h),
		mux.KindFileGet: gate(g, caps.Files, "file transfer", h),
	}
}

// interactive is one session's input side: its injector is opened at the first input stream
// and closed with the session.
type interactive struct {
	a    *Agent
	area *area
	log  *slog.Logger

	mu     sync.Mutex
	inj    input.Injector
	server *input.Server

	// The screen stream this session watches, once it runs (desktop.go, desktopctl.go).
	view        *screen.Viewer
	shared      *sharedStream
	write       func([]byte, time.Duration) error
	openCtx     context.Context // bounds opening capturers (watch)
	moved       chan struct{}   // the session moved to another stream (capacity 1)
	ready       chan struct{}
	streamReady sync.Once

	// The GNOME remote-desktop session the stream and the input share (BackendMutter).
	gnome gnomeSession
}

// injector opens the session's input injector for the desktop's backend.
func (it *interactive) injector(ctx context.Context) (input.Injector, error) {
	if it.a.desk.backend == BackendPortal {
		return it.a.desk.portal.injector(ctx)
	}
	if it.a.desk.backend != BackendMutter {
		return xtest.Open(xtest.Config{Display: it.a.desk.cfg.Display, Logger: it.log})
	}
	s, err := it.gnome.get(ctx, it.a.desk)
	if err != nil {
		return nil, err
	}
	return s.Injector(), nil
}

func (it *interactive) handleInput(ctx context.Context, stream net.Conn, req mux.Request) {
	it.mu.Lock()
	if it.server == nil {
		inj, err := it.injector(ctx)
		if err != nil {
			it.mu.Unlock()
			it.log.Error("cannot inject input", "err", err)
			_ = mux.WriteReply(stream, mux.Reply{Status: mux.StatusUnsupported, Message: "the host cannot inject input: " + err.Error()})
			_ = stream.Close()
			return
		}
		it.inj = inj
		it.server, err = input.NewServer(input.Config{Injector: pausable{Injector: inj, paused: it.a.inputPaused}, Rect: it.area.get, Logger: it.log})
		if err != nil {
			it.mu.Unlock()
			_ = stream.Close()
			return
		}
	}
	server := it.server
	it.mu.Unlock()
	server.HandleStream(ctx, stream, req)
}

func (it *interactive) close() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.server != nil {
		st := it.server.Stats()
		it.log.Info("input summary", "injected", st.Injected, "dropped", st.Dropped, "failed", st.Failed, "watchdog_releases", st.Watchdog)
	}
	if it.inj != nil {
		it.inj.Close()
	}
	it.gnome.close()
}

// interactiveHandlers serve the interactive channel: input, control, clipboard.
func (a *Agent) interactiveHandlers(it *interactive, caps Caps, g *openGuard) map[mux.Kind]mux.Handler {
	var in, clip, ctl mux.Handler
	if a.desk != nil {
		in = it.handleInput
		ctl = replyOK(it.handleDesktopControl)
		switch a.desk.backend {
		case BackendX11: // X11 selections (xclip)
			cs := &clipboard.Server{Display: a.desk.cfg.Display, Logger: it.log.With("component", "clipboard")}
			clip = cs.HandleStream
		case BackendMutter: // the GNOME clipboard through Mutter (clipboard_mutter.go)
			clip = it.gnomeClipboard().HandleStream
		}
	}
	return map[mux.Kind]mux.Handler{
		mux.KindInput:     gate(g, caps.Control, "control of the screen (input)", in),
		mux.KindClipboard: gate(g, caps.Clipboard, "the clipboard", clip),
		mux.KindControl:   gate(g, caps.View, "the screen (control stream)", ctl),
		mux.KindGrants:    grants(caps),
	}
}

// grants answers a viewer's question of what its session may do (mux.KindGrants): the list
// this end enforces, so that a viewer refused a capability can say so at once instead of
// failing at each use.
func grants(caps Caps) mux.Handler {
	return func(ctx context.Context, stream net.Conn, req mux.Request) {
		_ = mux.Accept(stream, caps.String())
		_ = stream.Close()
	}
}
