package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deskport/deskport/internal/termtext"
)

// DefaultConsentTimeout is how long a consent prompt waits for the owner before it refuses.
// Input to every session is paused while a prompt is open, so it must not stay open forever.
const DefaultConsentTimeout = 60 * time.Second

// consentPolicy turns --accept into a Consent function. "ask" prompts on the terminal t, with
// view-only preselected (Enter); "grant" accepts with the --grant capabilities; "view" accepts
// as view-only; "deny" refuses every code viewer.
func consentPolicy(accept string, t *terminal) (func(context.Context, ConsentRequest) (Caps, bool), error) {
	if accept == "" {
		accept = "grant"
		if t != nil {
			accept = "ask"
		}
	}
	switch accept {
	case "grant":
		return func(_ context.Context, r ConsentRequest) (Caps, bool) { return r.Offered, true }, nil
	case "view":
		return func(context.Context, ConsentRequest) (Caps, bool) { return Caps{View: true}, true }, nil
	case "deny":
		return func(context.Context, ConsentRequest) (Caps, bool) { return Caps{}, false }, nil
	case "ask":
		if t == nil {
			return nil, fmt.Errorf("--accept ask needs a terminal on standard input; for unattended hosts use --accept grant, view or deny")
		}
		return t.ask, nil
	}
	return nil, fmt.Errorf("--accept %q: use ask, grant, view or deny", accept)
}

// terminal is the host owner's terminal: it asks consent questions, one at a time, and a line
// typed while no question is open asks for a new one-time code (idle).
//
// A line typed before a question opened never answers it: a stray Enter would otherwise grant
// whatever is preselected to a viewer the owner has not seen yet. When a question opens, the
// terminal's pending input is flushed (tcflush), and a line the reader already holds is told
// apart by the read it arrived in.
type terminal struct {
	in      io.Reader
	out     io.Writer
	timeout time.Duration
	idle    func() // called for a line typed while no question is open

	ask1  sync.Mutex // one question at a time
	mu    sync.Mutex
	reads uint64      // reads completed on in (under mu)
	open  chan string // the open question's answers; nil when none is open
	since uint64      // a line must complete in a read after this one to answer
}

// newTerminal returns a terminal reading lines from in; timeout zero means
// DefaultConsentTimeout. Start the reader with run once idle is set.
func newTerminal(in io.Reader, out io.Writer, timeout time.Duration) *terminal {
	if timeout <= 0 {
		timeout = DefaultConsentTimeout
	}
	return &terminal{in: in, out: out, timeout: timeout}
}

// Read counts the reads on the terminal, so that a line can be dated against a question.
func (t *terminal) Read(p []byte) (int, error) {
	n, err := t.in.Read(p)
	t.mu.Lock()
	t.reads++
	t.mu.Unlock()
	return n, err
}

// run reads lines until the input ends. It blocks on the terminal, which cannot be interrupted,
// so the command line runs it for the life of the process.
func (t *terminal) run() {
	sc := bufio.NewScanner(t)
	for sc.Scan() {
		line := strings.TrimSpace(strings.ToLower(sc.Text()))
		t.mu.Lock()
		// bufio.Scanner returns a line before it reads again, so the line's newline came in
		// the read just completed.
		open, fresh := t.open, t.reads > t.since
		t.mu.Unlock()
		switch {
		case open != nil && fresh:
			select {
			case open <- line:
			default: // the question is busy with an earlier answer; the owner types again
			}
		case open != nil:
			// typed before the question appeared: not an answer
		case t.idle != nil:
			t.idle()
		}
	}
	t.mu.Lock()
	if t.open != nil {
		close(t.open)
		t.open = nil
	}
	t.in = eofReader{}
	t.mu.Unlock()
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// flushInput discards what was typed on the terminal and not read yet.
func (t *terminal) flushInput() {
	if f, ok := t.in.(*os.File); ok {
		flushTerminalInput(f)
	}
}

func (t *terminal) ask(ctx context.Context, r ConsentRequest) (Caps, bool) {
	t.ask1.Lock()
	defer t.ask1.Unlock()
	answers := make(chan string, 1)
	t.mu.Lock()
	if _, ended := t.in.(eofReader); ended {
		t.mu.Unlock()
		fmt.Fprintln(t.out, "\nrefused a one-time-code viewer: the terminal's input has ended")
		return Caps{}, false
	}
	t.flushInput()
	t.open, t.since = answers, t.reads
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.open == answers {
			t.open = nil
		}
		t.mu.Unlock()
	}()
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	e := termtext.Escape
	fmt.Fprintf(t.out, "\nviewer %s from %s wants in with the one-time code (refused in %v without an answer).\n", e(r.Viewer), e(r.Addr), t.timeout)
	fmt.Fprintf(t.out, "  [Enter] view only   [a] allow %s   [n] refuse  > ", r.Offered)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(t.out, "\n  the viewer left")
			return Caps{}, false
		case <-timer.C:
			fmt.Fprintf(t.out, "\n  no answer in %v: refused\n", t.timeout)
			return Caps{}, false
		case line, ok := <-answers:
			if !ok {
				return Caps{}, false
			}
			switch line {
			case "", "v", "view":
				fmt.Fprintln(t.out, "  granted: view")
				return Caps{View: true}, true
			case "a", "all", "allow", "y", "yes":
				fmt.Fprintf(t.out, "  granted: %s\n", r.Offered)
				return r.Offered, true
			case "n", "no", "refuse", "deny":
				fmt.Fprintln(t.out, "  refused")
				return Caps{}, false
			}
			fmt.Fprint(t.out, "  Enter, a or n > ")
		}
	}
}
