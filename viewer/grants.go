package viewer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/session"
)

// Grants is what the host lets this session do, as it answered a mux.KindGrants open.
type Grants struct {
	// Known is false when the host is from before the question: then everything is assumed
	// granted and each use finds out, as before.
	Known bool
	names []string
}

// Has reports whether a capability ("view", "control", "clipboard", "files", "forward",
// "listen") is granted, or may be (the host did not say).
func (g Grants) Has(name string) bool { return !g.Known || slices.Contains(g.names, name) }

// String lists the granted capabilities as the host names them.
func (g Grants) String() string {
	if !g.Known {
		return "unknown"
	}
	if len(g.names) == 0 {
		return "none"
	}
	return strings.Join(g.names, ",")
}

// parseGrants reads the host's list; "none" is the empty one.
func parseGrants(msg string) Grants {
	g := Grants{Known: true}
	for n := range strings.SplitSeq(msg, ",") {
		if n = strings.TrimSpace(n); n != "" && n != "none" {
			g.names = append(g.names, n)
		}
	}
	return g
}

// consentNotice is how long the host may take to answer before the viewer says it is waiting
// for the host's owner: a session that joined with a one-time code is answered only once the
// owner has accepted it.
const consentNotice = 2 * time.Second

// errNotAccepted is a session the host ended while the viewer waited for its owner's answer.
var errNotAccepted = errors.New("the host ended the session before its owner accepted it (refused, or no answer in time); ask them to try again with a new one-time code")

// askGrants asks the host what this session may do. When the answer takes longer than
// consentNotice it tells out that it waits for the host's owner.
func askGrants(ctx context.Context, conn *session.ViewerConn, out io.Writer) (Grants, error) {
	type answer struct {
		g   Grants
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan answer, 1)
	go func() {
		stream, rep, err := mux.Open(ctx, conn.Interactive, mux.Request{Kind: mux.KindGrants})
		if err != nil {
			if _, refused := errors.AsType[*mux.RemoteError](err); refused {
				// A host from before the question (unsupported), or one that refused it
				// (too many opens): each use finds out, as before.
				err = nil
			}
			ch <- answer{err: err}
			return
		}
		stream.Close()
		ch <- answer{g: parseGrants(rep.Message)}
	}()
	notice := time.NewTimer(consentNotice)
	defer notice.Stop()
	waited := false
	for {
		select {
		case a := <-ch:
			if a.err != nil && !waited && conn.Mux.IsClosed() {
				return Grants{}, ended(conn)
			}
			if a.err != nil && waited {
				return Grants{}, errNotAccepted
			}
			if a.err != nil {
				return Grants{}, fmt.Errorf("asking the host what this session may do: %w", a.err)
			}
			return a.g, nil
		case <-notice.C:
			waited = true
			fmt.Fprintln(out, "waiting for the host's owner to accept this session (they are asked on the host)…")
		case <-conn.Done():
			if waited {
				return Grants{}, errNotAccepted
			}
			return Grants{}, ended(conn)
		case <-ctx.Done():
			return Grants{}, ctx.Err()
		}
	}
}

// capWhat names each capability for a person.
var capWhat = map[string]string{
	"view":      "the screen",
	"control":   "control of the screen",
	"clipboard": "the clipboard",
	"files":     "file transfer",
	"forward":   "port forwarding (-L, -D)",
	"listen":    "reverse port forwarding (-R)",
}

// notGranted explains a capability the host did not grant, and what would grant it.
func notGranted(method string, g Grants, name string) error {
	how := fmt.Sprintf("a session that joins with a one-time code gets what the host's owner allows (host --code --grant %s,...)", name)
	if method == auth.MethodKey {
		how = "your key's line in the host's authorized_viewers takes it away (view-only, no-port-forwarding, no-files, ...)"
	}
	return fmt.Errorf("the host did not grant this session %s (granted: %s): %s", capWhat[name], g, how)
}

// connectFor connects, asks the host what the session may do (waiting, and saying so, while
// the host's owner is asked to accept a one-time code's session) and fails at once, with what
// would grant it, when one of need is not granted.
func connectFor(ctx context.Context, cfg Config, need ...string) (*session.ViewerConn, Grants, error) {
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return nil, Grants{}, err
	}
	g, err := checkGrants(ctx, cfg, conn, need...)
	if err != nil {
		conn.Close()
		return nil, Grants{}, err
	}
	return conn, g, nil
}

// checkGrants is connectFor's question and check on a connection already made.
func checkGrants(ctx context.Context, cfg Config, conn *session.ViewerConn, need ...string) (Grants, error) {
	g, err := askGrants(ctx, conn, cfg.Out)
	if err != nil {
		return Grants{}, err
	}
	for _, n := range need {
		if !g.Has(n) {
			return g, notGranted(conn.Result.Method, g, n)
		}
	}
	return g, nil
}
