package mutter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// The text types the session offers when it owns the clipboard, and reads in this order of
// preference: what GTK and Qt offer for text, and what Mutter's XWayland bridge maps X11's
// UTF8_STRING to.
var textMimes = []string{"text/plain;charset=utf-8", "UTF8_STRING", "text/plain"}

// clipTimeout bounds one read of the clipboard or one write to a paster: the program at the
// other end of the pipe may hang, and it must not hang the session.
const clipTimeout = 3 * time.Second

// clipState is the session's side of GNOME's clipboard (Mutter's selection API on the
// remote-desktop session). It outlives the Clipboard views of viewers: the session keeps
// serving the last text a viewer set while it waits in the host's idle list, so a text pasted
// from a viewer survives the viewer, as a copied text does on a desktop.
type clipState struct {
	mu       sync.Mutex
	enabled  bool
	ready    chan struct{} // closed once Mutter's answer to EnableClipboard is processed
	owned    bool          // the session owns the clipboard with text
	text     []byte        // what it serves while it owns it
	mimes    []string      // the types of the current owner when another program owns it
	watchers map[*Clipboard]struct{}
	reading  sync.Mutex // Mutter refuses a second SelectionRead while one runs
	wg       sync.WaitGroup
}

// Clipboard is one user's view of the GNOME clipboard through the session: Read and Write the
// text, Changed to learn that another program copied something. Close it when done; the
// session keeps serving the last text written.
type Clipboard struct {
	s       *Session
	changed chan struct{}
	once    sync.Once
}

// Clipboard enables the session's clipboard (once per session) and returns a view of it.
func (s *Session) Clipboard(ctx context.Context) (*Clipboard, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	st := &s.clip
	st.mu.Lock()
	first := !st.enabled
	if first {
		// Mutter signals SelectionOwnerChanged for the current owner, if any, before it
		// answers.
		if err := s.rd.CallWithContext(ctx, rdSessionIface+".EnableClipboard", 0, map[string]dbus.Variant{}).Err; err != nil {
			st.mu.Unlock()
			return nil, fmt.Errorf("mutter: enabling the clipboard (Mutter 41 or later has it): %w", err)
		}
		st.enabled = true
		st.ready = make(chan struct{})
	}
	ready := st.ready
	st.mu.Unlock()
	if first {
		// Once that signal is processed, a Read knows the owner's types, and the owner of
		// the clipboard before the view opened is not reported as a change: a viewer sees
		// only what is copied while it watches, as on X11.
		err := s.barrier(ctx)
		close(ready)
		if err != nil {
			return nil, err
		}
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c := &Clipboard{s: s, changed: make(chan struct{}, 1)}
	st.mu.Lock()
	if st.watchers == nil {
		st.watchers = map[*Clipboard]struct{}{}
	}
	st.watchers[c] = struct{}{}
	st.mu.Unlock()
	return c, nil
}

// Changed receives a value when another program took the clipboard with a text type; read it
// then.
func (c *Clipboard) Changed() <-chan struct{} { return c.changed }

// Close ends the view; the session goes on serving its text.
func (c *Clipboard) Close() error {
	c.once.Do(func() {
		st := &c.s.clip
		st.mu.Lock()
		delete(st.watchers, c)
		st.mu.Unlock()
	})
	return nil
}

// Write makes the session own the clipboard with text, offered as UTF-8 text; it returns once
// Mutter made the session the owner, so a paste from now on gets text.
func (c *Clipboard) Write(ctx context.Context, text []byte) error {
	s := c.s
	st := &s.clip
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owned, st.text = true, bytes.Clone(text)
	opts := map[string]dbus.Variant{"mime-types": dbus.MakeVariant(textMimes)}
	if err := s.rd.CallWithContext(ctx, rdSessionIface+".SetSelection", 0, opts).Err; err != nil {
		st.owned, st.text = false, nil
		return fmt.Errorf("mutter: SetSelection: %w", err)
	}
	return nil
}

// Read returns the clipboard's text, at most limit bytes; ok is false when nothing owns the
// clipboard or its owner offers no text. tooLarge reports a text over the limit (not returned).
func (c *Clipboard) Read(ctx context.Context, limit int) (text []byte, ok, tooLarge bool, err error) {
	s := c.s
	st := &s.clip
	st.mu.Lock()
	if st.owned {
		text := bytes.Clone(st.text)
		st.mu.Unlock()
		if len(text) > limit {
			return nil, true, true, nil
		}
		return text, true, false, nil
	}
	mime := ""
	for _, m := range textMimes {
		if slices.Contains(st.mimes, m) {
			mime = m
			break
		}
	}
	st.mu.Unlock()
	if mime == "" {
		return nil, false, false, nil
	}
	st.reading.Lock()
	defer st.reading.Unlock()
	ctx, cancel := context.WithTimeout(ctx, clipTimeout)
	defer cancel()
	var fd dbus.UnixFD
	for {
		err := s.rd.CallWithContext(ctx, rdSessionIface+".SelectionRead", 0, mime).Store(&fd)
		if err == nil {
			break
		}
		var de dbus.Error
		if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.FileNotFound" {
			return nil, false, false, nil // the owner went away meanwhile
		}
		// Mutter 43.8 closes the pipe of a finished read before it forgets the read, and
		// refuses a read in between as "in parallel": a moment later it works.
		if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.LimitsExceeded" && ctx.Err() == nil {
			select {
			case <-time.After(10 * time.Millisecond): // nothing to wait on but Mutter's main loop
				continue
			case <-ctx.Done():
			}
		}
		return nil, false, false, fmt.Errorf("mutter: SelectionRead: %w", err)
	}
	f := pipeFile(fd, "clipboard-read")
	defer f.Close()
	_ = f.SetReadDeadline(time.Now().Add(clipTimeout))
	text, err = io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if len(text) > limit {
		return nil, true, true, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("mutter: reading the clipboard (%s): %w", mime, err)
	}
	return text, true, false, nil
}

// clipSignal handles the session's SelectionOwnerChanged and SelectionTransfer signals (on the
// watch goroutine; transfers run on their own).
func (s *Session) clipSignal(sig *dbus.Signal) {
	st := &s.clip
	switch sig.Name {
	case rdSessionIface + ".SelectionOwnerChanged":
		if len(sig.Body) != 1 {
			return
		}
		opts, _ := sig.Body[0].(map[string]dbus.Variant)
		if own, _ := opts["session-is-owner"].Value().(bool); own {
			return // our own SetSelection
		}
		mimes := mimeList(opts["mime-types"].Value())
		st.mu.Lock()
		st.owned, st.text, st.mimes = false, nil, mimes
		hasText := slices.ContainsFunc(textMimes, func(m string) bool { return slices.Contains(mimes, m) })
		if hasText {
			for c := range st.watchers {
				select {
				case c.changed <- struct{}{}:
				default:
				}
			}
		}
		st.mu.Unlock()
		s.log.Debug("mutter: the clipboard has a new owner", "mime_types", mimes)
	case rdSessionIface + ".SelectionTransfer":
		if len(sig.Body) != 2 {
			return
		}
		mime, _ := sig.Body[0].(string)
		serial, _ := sig.Body[1].(uint32)
		st.mu.Lock()
		text, owned := st.text, st.owned
		st.mu.Unlock()
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			if err := s.transfer(serial, text, owned && slices.Contains(textMimes, mime)); err != nil {
				s.log.Warn("mutter: serving a paste", "mime_type", mime, "err", err)
			}
		}()
	}
}

// transfer answers one SelectionTransfer: a program pastes what the session owns.
func (s *Session) transfer(serial uint32, text []byte, have bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), clipTimeout)
	defer cancel()
	done := func(ok bool) error {
		return s.rd.CallWithContext(ctx, rdSessionIface+".SelectionWriteDone", 0, serial, ok).Err
	}
	if !have {
		return done(false)
	}
	var fd dbus.UnixFD
	if err := s.rd.CallWithContext(ctx, rdSessionIface+".SelectionWrite", 0, serial).Store(&fd); err != nil {
		return fmt.Errorf("SelectionWrite: %w", err)
	}
	f := pipeFile(fd, "clipboard-write")
	_ = f.SetWriteDeadline(time.Now().Add(clipTimeout))
	_, werr := f.Write(text)
	f.Close()
	if err := done(werr == nil); err != nil {
		return fmt.Errorf("SelectionWriteDone: %w", err)
	}
	return werr
}

// mimeList reads the mime-types option: Mutter 43 sends it wrapped in a struct, "(as)".
func mimeList(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		if len(v) == 1 {
			return mimeList(v[0])
		}
	}
	return nil
}
