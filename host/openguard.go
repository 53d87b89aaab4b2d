package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deskport/deskport/audit"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/mux"
)

// Limits on what one session's stream opens may cost the host. An open is cheap for the viewer
// and every refused one used to be a line in the audit log and the log: 20,000 refused opens
// in 3 s grew the audit log by 6.3 MB, about 7 GiB an hour from one view-only viewer.
const (
	// OpenRate and OpenBurst are the token bucket every stream open of a session draws from
	// (tunnel and interactive channel together). An open costs one token, a refused open one
	// more; an open with no token left is refused for the rate.
	OpenRate  = 100 // tokens per second
	OpenBurst = 200
	// AbuseStrikes is how many opens refused for the rate (net of the decay) end the session:
	// a viewer that keeps opening far faster than the rate is not going to slow down.
	AbuseStrikes = 1000
	// StrikeDecay forgives strikes over time, so a burst now and then never adds up.
	StrikeDecay = 20 // strikes per second
	// RefusalInterval and RefusalsPerInterval bound refusal lines: in each interval, the first
	// RefusalsPerInterval refusals are written one by one (audit log and log); the rest are
	// counted and written as one summary line.
	RefusalInterval     = 10 * time.Second
	RefusalsPerInterval = 10
)

// openGuard is one session's stream-open limiter, refusal summariser and abuse detector.
type openGuard struct {
	now    func() time.Time
	abused chan struct{} // closed once when the session must end
	// onRefused, when set, is told of every refused open (metrics); set before use.
	onRefused func()

	mu       sync.Mutex
	tokens   float64
	strikes  float64
	last     time.Time
	over     int // opens refused for the rate
	ended    bool
	auditWin window
	logWin   window
}

// window counts refusals in the current interval.
type window struct {
	start   time.Time
	written int
	dropped int
	last    string // the last dropped refusal, for the summary
}

func newOpenGuard(now func() time.Time) *openGuard {
	if now == nil {
		now = time.Now
	}
	return &openGuard{now: now, abused: make(chan struct{}), tokens: OpenBurst, last: now()}
}

// refill adds the tokens and forgives the strikes earned since the last call; mu is held.
func (g *openGuard) refill(t time.Time) {
	dt := t.Sub(g.last).Seconds()
	if dt > 0 {
		g.tokens = min(OpenBurst, g.tokens+dt*OpenRate)
		g.strikes = max(0, g.strikes-dt*StrikeDecay)
		g.last = t
	}
}

// open takes the token of one stream open; false means refuse it for the rate.
func (g *openGuard) open() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refill(g.now())
	if g.tokens >= 1 {
		g.tokens--
		return true
	}
	g.over++
	g.strikes++
	if g.strikes >= AbuseStrikes && !g.ended {
		g.ended = true
		close(g.abused)
	}
	return false
}

// refused charges a refusal its second token (the bucket may go into debt).
func (g *openGuard) refused() {
	if g.onRefused != nil {
		g.onRefused()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refill(g.now())
	g.tokens = max(g.tokens-1, -OpenBurst)
}

// admit decides whether one refusal is written out in w. It returns the summary of the
// previous interval's dropped refusals, if that interval had any and has ended.
func (g *openGuard) admit(w *window, what string) (write bool, dropped int, last string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.now()
	if t.Sub(w.start) >= RefusalInterval {
		dropped, last = w.dropped, w.last
		*w = window{start: t}
	}
	if w.written < RefusalsPerInterval {
		w.written++
		return true, dropped, last
	}
	w.dropped++
	w.last = what
	return false, dropped, last
}

// flush returns what w dropped and not summarised yet, and forgets it.
func (g *openGuard) flush(w *window) (int, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, last := w.dropped, w.last
	w.dropped, w.last = 0, ""
	return n, last
}

func (g *openGuard) overCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.over
}

const rateMessage = "too many stream opens: this session may open %d streams a second (refused ones count double); slow down"

// policy limits a forward policy's checks to the session's rate.
func (g *openGuard) policy(p forward.Checker) forward.Checker { return guardedPolicy{g, p} }

// listenPolicy limits a listen policy's checks to the session's rate.
func (g *openGuard) listenPolicy(p forward.ListenChecker) forward.ListenChecker {
	return guardedListen{g, p}
}

type guardedPolicy struct {
	g *openGuard
	p forward.Checker
}

func (gp guardedPolicy) Check(ctx context.Context, target string) (netip.AddrPort, error) {
	if !gp.g.open() {
		return netip.AddrPort{}, &refusedError{msg: fmt.Sprintf(rateMessage, OpenRate)}
	}
	return gp.p.Check(ctx, target)
}

type guardedListen struct {
	g *openGuard
	p forward.ListenChecker
}

func (gl guardedListen) CheckListen(addr string) (netip.AddrPort, error) {
	if !gl.g.open() {
		return netip.AddrPort{}, &refusedError{msg: fmt.Sprintf(rateMessage, OpenRate)}
	}
	return gl.p.CheckListen(addr)
}

// handlers limits every handler's opens to the session's rate.
func (g *openGuard) handlers(hs map[mux.Kind]mux.Handler) map[mux.Kind]mux.Handler {
	out := make(map[mux.Kind]mux.Handler, len(hs))
	for k, h := range hs {
		out[k] = func(ctx context.Context, stream net.Conn, req mux.Request) {
			if !g.open() {
				g.refused()
				_ = stream.SetWriteDeadline(time.Now().Add(mux.OpenTimeout))
				_ = mux.WriteReply(stream, mux.Reply{Status: mux.StatusTooManyStreams, Message: fmt.Sprintf(rateMessage, OpenRate)})
				_ = stream.Close()
				return
			}
			h(ctx, stream, req)
		}
	}
	return out
}

// record is the session's audit recorder with refusals summarised: at most
// RefusalsPerInterval refused events per interval are written, then one line counts the rest.
func (g *openGuard) record(rec func(audit.Event)) func(audit.Event) {
	return func(e audit.Event) {
		if e.Type != audit.TypeRefused {
			rec(e)
			return
		}
		write, dropped, last := g.admit(&g.auditWin, e.Target+": "+e.Error)
		if dropped > 0 {
			rec(summaryEvent(dropped, last))
		}
		if write {
			rec(e)
		}
	}
}

// flushAudit writes the summary of refusals not written yet (at the session's end).
func (g *openGuard) flushAudit(rec func(audit.Event)) {
	if n, last := g.flush(&g.auditWin); n > 0 {
		rec(summaryEvent(n, last))
	}
}

func summaryEvent(n int, last string) audit.Event {
	return audit.Event{Type: audit.TypeRefused, Count: n,
		Error: fmt.Sprintf("%d more refusals in this session within %v, not written one by one; the last: %s", n, RefusalInterval, last)}
}

// logHandler passes the tunnel servers' log through the guard: their Warn records are
// refusals (forward.ServerConfig's contract); each counts as a refused open, and at most
// RefusalsPerInterval of them per interval are logged, then one line counts the rest.
type logHandler struct {
	slog.Handler
	g *openGuard
}

// Enabled is true for every refusal, whatever the log level, so that each one is charged
// and counted even when the log leaves it out.
func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.Handler.Enabled(ctx, l)
}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.Handler.Handle(ctx, r)
	}
	h.g.refused()
	write, dropped, last := h.g.admit(&h.g.logWin, r.Message)
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	if dropped > 0 {
		s := slog.NewRecord(r.Time, slog.LevelWarn, "refusals summarised", 0)
		s.AddAttrs(slog.Int("count", dropped), slog.Duration("within", RefusalInterval), slog.String("last", last))
		if err := h.Handler.Handle(ctx, s); err != nil {
			return err
		}
	}
	if !write {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as), h.g}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name), h.g}
}

// flushLog logs the summary of refusals not logged yet (at the session's end).
func (g *openGuard) flushLog(log *slog.Logger) {
	if n, last := g.flush(&g.logWin); n > 0 {
		log.Warn("refusals summarised", "count", n, "within", RefusalInterval, "last", last)
	}
}
