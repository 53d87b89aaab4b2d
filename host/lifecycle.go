package host

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/deskport/deskport/audit"
	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"
)

// GoingAway is the reason a host gives viewers when it shuts down: connected viewers read it
// as the rendezvous bye of their session, new viewers as the refusal of theirs.
const GoingAway = "host is shutting down"

// drainPoll is how often Shutdown looks for sessions that went idle, like net/http's
// Server.Shutdown polling for idle connections.
const drainPoll = 50 * time.Millisecond

// lifecycle is the agent's state as a service: whether it drains, the running Run's stop, and
// the live sessions with what Shutdown and Reload need of them. The zero value is ready.
type lifecycle struct {
	draining atomic.Bool

	mu      sync.Mutex
	stop    context.CancelFunc // Run's; nil before Run
	stopped bool               // Shutdown or Close was called (maybe before Run)
	running bool
	done    chan struct{} // closed when Run returns
	live    map[*session.HostConn]*liveSession
}

// liveSession is one authenticated session as Shutdown and Reload see it.
type liveSession struct {
	conn   *session.HostConn
	sig    *rendezvous.Session
	id     string
	viewer string
	key    ed25519.PublicKey // nil for a one-time-code session
	opts   auth.Options
	rec    func(audit.Event)
}

func (l *lifecycle) doneCh() chan struct{} {
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}

// begin starts Run's lifetime: a context that Shutdown and Close cancel, and the func Run
// defers to say it has returned.
func (a *Agent) begin(ctx context.Context) (context.Context, func()) {
	l := &a.life
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	if l.stopped {
		cancel()
	}
	l.stop, l.running = cancel, true
	done := l.doneCh()
	l.mu.Unlock()
	return ctx, func() {
		cancel()
		close(done)
	}
}

// stopRun cancels Run and waits for it to return (if it started).
func (a *Agent) stopRun() {
	l := &a.life
	l.mu.Lock()
	l.stopped = true
	stop, running, done := l.stop, l.running, l.doneCh()
	l.mu.Unlock()
	if stop != nil {
		stop()
	}
	if running {
		<-done
	}
}

func (a *Agent) track(conn *session.HostConn, s *rendezvous.Session, peer *auth.Peer, viewer string, rec func(audit.Event)) {
	ls := &liveSession{conn: conn, sig: s, id: s.ID(), viewer: viewer, key: peer.ViewerKey, opts: peer.Options, rec: rec}
	a.life.mu.Lock()
	if a.life.live == nil {
		a.life.live = map[*session.HostConn]*liveSession{}
	}
	a.life.live[conn] = ls
	a.life.mu.Unlock()
	if a.life.draining.Load() {
		// Shutdown began while this session authenticated: tell it too.
		go a.sayGoingAway(ls)
	}
}

func (a *Agent) untrack(conn *session.HostConn) {
	a.life.mu.Lock()
	delete(a.life.live, conn)
	a.life.mu.Unlock()
}

// refuseDraining turns a new viewer away during Shutdown, with the reason it shows.
func (a *Agent) refuseDraining(ctx context.Context, s *rendezvous.Session) bool {
	if !a.life.draining.Load() {
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = s.Send(sctx, &signaling.Message{Type: signaling.TypeBye, Reason: GoingAway})
	a.log.Info("refused a new viewer: the host is shutting down", "session", s.ID(), "viewer_addr", s.ViewerAddr())
	a.metrics.refusedFor(RefusedDraining)
	a.audit.Record(audit.Event{Type: audit.TypeRefused, Session: s.ID(), Remote: s.ViewerAddr(), Error: GoingAway})
	return true
}

// sayGoingAway tells a connected viewer the host is going away, with a bye if the viewer still
// listens on signaling (the CLI viewer hangs up once connected; it learns from the refusal of
// its next forward, drainRefusal).
func (a *Agent) sayGoingAway(ls *liveSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ls.sig.Send(ctx, &signaling.Message{Type: signaling.TypeBye, Reason: GoingAway})
}

// drainRefusal is the answer to a new forward or reverse listener on a session while the host
// drains: the viewer reads "host is shutting down" as the refusal.
type drainRefusal struct{ sentinel error }

func (e drainRefusal) Error() string { return GoingAway + "; it takes no new connections" }
func (e drainRefusal) Unwrap() error { return e.sentinel }

// busy says whether a session has work that a graceful shutdown waits for: an open forward or
// file transfer. A session with none is closed at once; so is one that only watches the
// desktop, which has nothing to finish (waiting would only hold `systemctl stop` for the whole
// drain timeout while someone watches).
func busy(conn *session.HostConn) bool {
	return conn.BulkStreams() > 0
}

// Shutdown stops the agent gracefully, like net/http's Server.Shutdown: it refuses new viewers
// with "host is shutting down", tells the connected ones the same, closes each session once it
// has no forward or transfer open, and when ctx is done closes the rest. Then Run returns.
// It returns ctx's error if sessions had to be cut.
func (a *Agent) Shutdown(ctx context.Context) error {
	l := &a.life
	l.draining.Store(true)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping+"\nSTATUS=draining sessions")
	l.mu.Lock()
	all := make([]*liveSession, 0, len(l.live))
	for _, ls := range l.live {
		all = append(all, ls)
	}
	l.mu.Unlock()
	a.log.Info("shutting down: refusing new viewers, draining sessions", "sessions", len(all))
	var wg sync.WaitGroup
	for _, ls := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.sayGoingAway(ls)
		}()
	}
	wg.Wait()

	t := time.NewTicker(drainPoll)
	defer t.Stop()
	var err error
	for {
		l.mu.Lock()
		var idle []*session.HostConn
		for conn := range l.live {
			if !busy(conn) {
				idle = append(idle, conn)
			}
		}
		left := len(l.live) - len(idle)
		l.mu.Unlock()
		for _, c := range idle {
			c.Close()
		}
		if left == 0 {
			break
		}
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
			err = ctx.Err()
			a.log.Warn("drain timeout: closing the sessions still working", "sessions", left)
		}
		break
	}
	a.stopRun()
	return err
}

// Close stops the agent at once: every session ends and Run returns. It is safe to call more
// than once and after Shutdown.
func (a *Agent) Close() error {
	a.life.draining.Store(true)
	a.stopRun()
	return nil
}

// ReloadConfig is what Reload can change without a restart.
type ReloadConfig struct {
	// Allow and AllowListen replace Config.Allow and Config.AllowListen.
	Allow, AllowListen []string
}

// Reload re-reads the authorized_viewers file and replaces the forward policy. Nothing changes
// unless all of it is valid. Sessions of a key that is no longer listed, or whose options
// changed, end at once (and are audited): what a key may do is fixed when its session starts,
// so its viewer reconnects under the new options. Every other session carries on, and its
// next forward is checked against the new --allow and --allow-listen.
func (a *Agent) Reload(rc ReloadConfig) error {
	pol, err := forward.NewPolicy(rc.Allow, nil)
	if err != nil {
		return fmt.Errorf("reload: --allow: %w", err)
	}
	lp, err := forward.NewListenPolicy(rc.AllowListen)
	if err != nil {
		return fmt.Errorf("reload: --allow-listen: %w", err)
	}
	keys := map[string]auth.AuthorizedKey{}
	if a.cfg.AuthorizedViewersPath != "" {
		list, err := auth.LoadAuthorizedViewers(a.cfg.AuthorizedViewersPath)
		if err != nil {
			return fmt.Errorf("reload: keeping the running policy: %w", err)
		}
		for _, k := range list {
			keys[string(k.Key)] = k
		}
	}
	a.mu.Lock()
	a.keys, a.policy, a.listen = keys, pol, lp
	a.cfg.Allow, a.cfg.AllowListen = rc.Allow, rc.AllowListen
	a.mu.Unlock()

	type victim struct {
		conn *session.HostConn
		ls   *liveSession
		why  string
	}
	var victims []victim
	a.life.mu.Lock()
	for conn, ls := range a.life.live {
		if ls.key == nil {
			continue
		}
		k, ok := keys[string(ls.key)]
		switch {
		case !ok:
			victims = append(victims, victim{conn, ls, "the viewer's key was removed from authorized_viewers"})
		case !reflect.DeepEqual(k.Options, ls.opts):
			victims = append(victims, victim{conn, ls, "the viewer key's options in authorized_viewers changed; reconnect for the new ones"})
		}
	}
	a.life.mu.Unlock()
	for _, v := range victims {
		a.log.Warn("ending a session on reload", "session", v.ls.id, "viewer", v.ls.viewer, "reason", v.why)
		v.ls.rec(audit.Event{Type: audit.TypeRevoked, Error: v.why})
		v.conn.Close()
	}
	a.log.Info("reloaded the policy", "trusted_keys", len(keys), "allow", rc.Allow, "allow_listen", rc.AllowListen, "sessions_ended", len(victims))
	return nil
}

// livePolicy checks a forward against the host-wide policy in force at the time of the open
// (Reload replaces it), narrowed by the key's permitopen options.
type livePolicy struct {
	a   *Agent
	own *forward.Policy
}

// current is the policy in force now: the host-wide one of the last reload, narrowed by the
// key's own permitopen options.
func (p livePolicy) current() *forward.Policy {
	p.a.mu.Lock()
	pol := p.a.policy
	p.a.mu.Unlock()
	if p.own != nil {
		pol = pol.Intersect(p.own)
	}
	return pol
}

func (p livePolicy) Check(ctx context.Context, target string) (netip.AddrPort, error) {
	if p.a.life.draining.Load() {
		return netip.AddrPort{}, drainRefusal{forward.ErrTargetRefused}
	}
	return p.current().Check(ctx, target)
}

// DialContext dials with the current policy's check on the socket (forward.Policy.DialContext).
func (p livePolicy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.current().DialContext(ctx, network, addr)
}

// liveListen is livePolicy for reverse-forward listeners.
type liveListen struct {
	a   *Agent
	own forward.ListenChecker
}

func (p liveListen) CheckListen(addr string) (netip.AddrPort, error) {
	if p.a.life.draining.Load() {
		return netip.AddrPort{}, drainRefusal{forward.ErrListenRefused}
	}
	p.a.mu.Lock()
	lp := p.a.listen
	p.a.mu.Unlock()
	if p.own != nil {
		if _, err := p.own.CheckListen(addr); err != nil {
			return netip.AddrPort{}, err
		}
	}
	return lp.CheckListen(addr)
}

// notifyReady tells systemd (Type=notify) the agent is up, and pings its watchdog until ctx is
// done. Outside systemd both are no-ops.
func (a *Agent) notifyReady(ctx context.Context, wg *sync.WaitGroup) {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=host ID "+a.id); err != nil {
		a.log.Warn("could not notify systemd", "err", err)
	}
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
		}
	}()
}
