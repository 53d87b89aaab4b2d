package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/screen/portal"
)

// BackendPortal shares a Wayland desktop through the desktop portal (xdg-desktop-portal):
// KDE Plasma, wlroots compositors, or GNOME when asked for. See docs/wayland.md.
const BackendPortal = "portal"

var errPortalMonitors = errors.New("the portal backend shares the monitor chosen in the desktop's sharing dialog; choosing another from the viewer is not supported")

// portalShare is the host's one portal session: opened at start, where the desktop may ask the
// person at the machine (once: the restore token is kept in the host's state directory), and
// shared by every viewer's stream and input. If the desktop ends it (the person stops
// sharing), the next viewer opens a new one with the newest token.
type portalShare struct {
	cfg       DesktopConfig
	log       *slog.Logger
	tokenPath string

	mu     sync.Mutex
	s      *portal.Session
	closed bool
}

// desktopConfig is the host's DesktopConfig with what the desktop needs from the host: its
// state directory (the key's) and its output for the person at the machine.
func (a *Agent) desktopConfig() DesktopConfig {
	cfg := a.cfg.Desktop
	if cfg.StateDir == "" && a.cfg.KeyPath != "" {
		cfg.StateDir = filepath.Dir(a.cfg.KeyPath)
	}
	if cfg.Out == nil {
		cfg.Out = a.cfg.Out
	}
	return cfg
}

// portalTokenPath is where the restore token lives: next to the host's key.
func portalTokenPath(cfg DesktopConfig) string {
	dir := cfg.StateDir
	if dir == "" {
		if d, err := os.UserConfigDir(); err == nil {
			dir = filepath.Join(d, "deskport")
		}
	}
	return filepath.Join(dir, portal.TokenFileName)
}

// startPortal opens the portal session and a trial capture, so a host whose desktop refuses
// says so at start, not at the first viewer.
func (d *desktop) startPortal(ctx context.Context) error {
	if d.cfg.VirtualDisplay != "" {
		return errors.New("--virtual-display starts Xvfb or (with --backend mutter) a headless GNOME; the portal backend shares the desktop this host runs in")
	}
	if d.cfg.Monitor > 0 {
		d.log.Warn("the portal backend shares the monitor chosen in the desktop's dialog; --monitor is ignored", "monitor", d.cfg.Monitor)
	}
	p := &portalShare{cfg: d.cfg, log: d.log, tokenPath: portalTokenPath(d.cfg)}
	d.portal = p
	s, err := p.session(ctx)
	if err != nil {
		return err
	}
	c, err := s.Capturer(ctx)
	if err != nil {
		return fmt.Errorf("the desktop portal's screen cast gives no picture: %w", err)
	}
	w, h := 0, 0
	if f, err := c.Capture(); err == nil {
		w, h = f.Width, f.Height
	}
	c.Close()
	d.log.Info("sharing the desktop", "backend", BackendPortal, "width", w, "height", h, "input", s.CanInput())
	if err := s.NoInput(); err != nil {
		d.log.Warn("sharing view-only: " + err.Error())
	}
	return nil
}

// session returns the open portal session, opening one (with the saved restore token) when
// there is none or the desktop ended the last one.
func (p *portalShare) session(ctx context.Context) (*portal.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, portal.ErrClosed
	}
	if p.s != nil {
		select {
		case <-p.s.Done():
			p.s.Close()
			p.s = nil
		default:
			return p.s, nil
		}
	}
	token, err := portal.LoadToken(p.tokenPath)
	if err != nil {
		p.log.Warn("the portal's restore token cannot be read; the desktop will ask again", "err", err)
	}
	asked := false // OnPrompt runs on Open's goroutine, once per Open
	cfg := portal.Config{RestoreToken: token, Input: true, Cursor: true, Logger: p.log,
		OnPrompt: func(remembered bool) {
			if !asked {
				msg := portal.Prompt(remembered)
				p.log.Warn(msg)
				if p.cfg.Out != nil {
					fmt.Fprintln(p.cfg.Out, msg)
				}
			}
			asked = true
		}}
	began := time.Now()
	s, err := portal.Open(ctx, cfg)
	if err != nil && token != "" && !errors.Is(err, portal.ErrDeclined) && !errors.Is(err, portal.ErrNoConsent) && ctx.Err() == nil {
		// A token the portal cannot use normally just makes it ask; should it fail instead,
		// ask without it.
		p.log.Warn("the portal failed with the saved restore token; asking again", "err", err)
		cfg.RestoreToken = ""
		s, err = portal.Open(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	switch t := s.RestoreToken(); {
	case t != "":
		if err := portal.SaveToken(p.tokenPath, t); err != nil {
			p.log.Warn("cannot save the portal's restore token; the desktop will ask again next time", "err", err)
		} else {
			p.log.Info("the desktop's permission is remembered", "restore_token_file", p.tokenPath)
		}
	case s.CanInput():
		p.log.Info("this desktop's portal does not remember a remote-control permission (RemoteDesktop before version 2): it asks at every host start")
	}
	p.log.Info("portal session started", "took", time.Since(began).Round(time.Millisecond), "asked", asked, "restore_token_used", token != "" && cfg.RestoreToken != "")
	p.s = s
	return s, nil
}

// capturer opens a capture of the portal session's stream.
func (p *portalShare) capturer(ctx context.Context) (rectCapturer, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.Capturer(ctx)
}

// injector opens an injector on the portal session, or says why there is none.
func (p *portalShare) injector(ctx context.Context) (input.Injector, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.Injector()
}

func (p *portalShare) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.s != nil {
		p.s.Close()
		p.s = nil
	}
}

// portalAvailable reports whether the session bus has a desktop portal with ScreenCast, for
// --backend auto.
func portalAvailable(ctx context.Context) error {
	_, err := portal.Available(ctx, "")
	return err
}
