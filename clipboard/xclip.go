package clipboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// xclipTimeout bounds one xclip run. Reading waits for the selection owner to answer, and a
// hung owner must not hang the session.
const xclipTimeout = 3 * time.Second

// xclip reads and sets selections on one display through the xclip program.
type xclip struct {
	path    string
	display string
}

func newXclip(display string) (*xclip, error) {
	p, err := exec.LookPath("xclip")
	if err != nil {
		return nil, ErrNoXclip
	}
	if display == "" {
		display = os.Getenv("DISPLAY")
	}
	if display == "" {
		return nil, errors.New("clipboard: no X display: set Server.Display or $DISPLAY")
	}
	return &xclip{path: p, display: display}, nil
}

func (x *xclip) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, x.path, args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+x.display)
	cmd.WaitDelay = time.Second
	return cmd
}

// get returns the selection's text, at most limit bytes; ok is false when no program owns
// the selection or it offers no text. tooLarge reports a text over the limit (not returned).
func (x *xclip) get(ctx context.Context, selection string, limit int) (text []byte, ok, tooLarge bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, xclipTimeout)
	defer cancel()
	cmd := x.command(ctx, "-o", "-selection", selection, "-t", "UTF8_STRING")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, false, false, err
	}
	if err := cmd.Start(); err != nil {
		return nil, false, false, fmt.Errorf("clipboard: run xclip: %w", err)
	}
	text, rerr := io.ReadAll(io.LimitReader(out, int64(limit)+1))
	if len(text) > limit {
		cancel() // stop xclip; the text is not wanted
		_ = cmd.Wait()
		return nil, true, true, nil
	}
	werr := cmd.Wait()
	if rerr != nil {
		return nil, false, false, rerr
	}
	if werr != nil {
		if ctx.Err() != nil {
			return nil, false, false, fmt.Errorf("clipboard: the owner of the %s selection did not answer within %v", selection, xclipTimeout)
		}
		// No owner, or the owner offers no UTF8_STRING: nothing to sync.
		return nil, false, false, nil
	}
	return text, true, false, nil
}

// set makes xclip own the selection with text. xclip forks a child that keeps serving the
// selection until another program takes it over, so the text outlives this session, as a
// copied text does on a desktop.
func (x *xclip) set(ctx context.Context, selection string, text []byte) error {
	ctx, cancel := context.WithTimeout(ctx, xclipTimeout)
	defer cancel()
	cmd := x.command(ctx, "-i", "-selection", selection)
	cmd.Stdin = bytes.NewReader(text)
	// The forked child inherits stderr: a pipe would keep Wait waiting for it, so xclip's
	// messages go to a file.
	errf, err := os.CreateTemp("", "deskport-xclip-*.err")
	if err != nil {
		return err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stderr = errf
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(errf.Name())
		return fmt.Errorf("clipboard: xclip could not set the %s selection on %s: %v: %s", selection, x.display, err, strings.TrimSpace(string(msg)))
	}
	return nil
}
