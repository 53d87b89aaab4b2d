package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// consentPolicy turns --accept into a Consent function. "ask" prompts on the terminal, with
// view-only preselected (Enter); "grant" accepts with the --grant capabilities; "view" accepts
// as view-only; "deny" refuses every code viewer.
func consentPolicy(accept string, terminal bool, in io.Reader, out io.Writer) (func(context.Context, ConsentRequest) (Caps, bool), error) {
	if accept == "" {
		accept = "grant"
		if terminal {
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
		if !terminal {
			return nil, fmt.Errorf("--accept ask needs a terminal on standard input; for unattended hosts use --accept grant, view or deny")
		}
		p := &prompter{lines: make(chan string), out: out}
		go p.read(in)
		return p.ask, nil
	}
	return nil, fmt.Errorf("--accept %q: use ask, grant, view or deny", accept)
}

// prompter asks the person at the host's terminal, one question at a time. A line read while no
// question is open asks for a new one-time code.
type prompter struct {
	mu    sync.Mutex // one question at a time
	lines chan string
	out   io.Writer
}

func (p *prompter) read(in io.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		p.lines <- strings.TrimSpace(strings.ToLower(sc.Text()))
	}
	close(p.lines)
}

func (p *prompter) ask(ctx context.Context, r ConsentRequest) (Caps, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "\nviewer %s from %s wants in with the one-time code.\n", r.Viewer, r.Addr)
	fmt.Fprintf(p.out, "  [Enter] view only   [a] allow %s   [n] refuse  > ", r.Offered)
	for {
		select {
		case <-ctx.Done():
			return Caps{}, false
		case line, ok := <-p.lines:
			if !ok {
				return Caps{}, false
			}
			switch line {
			case "", "v", "view":
				fmt.Fprintln(p.out, "  granted: view")
				return Caps{View: true}, true
			case "a", "all", "allow", "y", "yes":
				fmt.Fprintf(p.out, "  granted: %s\n", r.Offered)
				return r.Offered, true
			case "n", "no", "refuse", "deny":
				fmt.Fprintln(p.out, "  refused")
				return Caps{}, false
			}
			fmt.Fprint(p.out, "  Enter, a or n > ")
		}
	}
}
