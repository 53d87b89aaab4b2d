// Package viewer is the native deskport viewer: it finds a host through the rendezvous, connects
// to it peer to peer, authenticates with its key or a one-time code, and then forwards ports the
// way ssh does (-L, -R, -D) or joins stdin/stdout to one stream (stdio, for ProxyCommand).
package viewer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/knownhosts"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"
)

// Config says which host to reach and how to prove who we are.
type Config struct {
	// Rendezvous is the signaling server's URL; several URLs separated by commas (instances of
	// one rendezvous cluster) are tried in order until one is reachable.
	Rendezvous string
	// KeyPath is the viewer's ed25519 key; created (mode 0600) when missing.
	KeyPath string
	// HostID is the host to connect to.
	HostID string
	// Code is a one-time code from the host owner; empty means trusted-key authentication.
	Code string
	// KnownHostsPath pins host keys (trust on first use, a loud refusal on change); empty
	// means no pinning.
	KnownHostsPath string
	// Session holds the WebRTC settings.
	Session session.Config
	// Logger receives the viewer's structured log; nil discards it.
	Logger *slog.Logger
	// Out receives what the person must read (forwards ready, errors that need action).
	Out io.Writer
}

func (c *Config) defaults() error {
	if c.Rendezvous == "" {
		return errors.New("no rendezvous given; pass --rendezvous URL or set DESKPORT_RENDEZVOUS")
	}
	id, err := identity.ParseHostID(c.HostID)
	if err != nil {
		return err
	}
	c.HostID = id
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return nil
}

// Connect reaches the host and authenticates. The caller closes the returned connection.
func Connect(ctx context.Context, cfg Config) (*session.ViewerConn, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	key, created, err := identity.LoadOrCreateKey(cfg.KeyPath, "deskport viewer")
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(cfg.Out, "created viewer key %s; its authorized_viewers line is:\n  %s\n", cfg.KeyPath, identity.AuthorizedLine(key.Public().(ed25519.PublicKey), "viewer"))
	}
	for attempt := 1; ; attempt++ {
		conn, err := connectOnce(ctx, cfg, key)
		// A host refuses offers while too many sessions are authenticating at once, in all or
		// from this address (several viewers started together, an editor's parallel ssh
		// connections): nothing was authenticated, so try again after a short, growing wait.
		busy := busyReason(err)
		if busy == "" || attempt >= busyAttempts {
			return conn, err
		}
		wait := busyBackoff(attempt)
		fmt.Fprintf(cfg.Out, "%s; trying again in %v\n", busy, wait.Round(10*time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// busyReason says why a failed connection attempt may simply be tried again, or "" when it
// may not: the host refused the offer while too many sessions were authenticating, or the
// rendezvous refused it while too many attempts (from this address, or in all) waited for the
// host's answer. Both hold only while other attempts are under way.
func busyReason(err error) string {
	var refused *rendezvous.RefusedError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, session.ErrTooManyPending):
		return "the host is busy authenticating other sessions"
	case errors.As(err, &refused) && refused.Code == signaling.CodeTooManySessions:
		return "too many connection attempts are waiting for the host's answer"
	}
	return ""
}

// busyAttempts bounds Connect's tries against a host that keeps refusing offers because too
// many sessions are authenticating (about 20 s of waiting in all).
const busyAttempts = 12

// busyBackoff is the wait before try attempt+1: from about 200 ms, doubling, at most 3 s, with
// jitter so that viewers refused together do not come back together.
func busyBackoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt-1, 4)
	d = min(d, 3*time.Second)
	return d/2 + rand.N(d)
}

// connectOnce is one rendezvous session and one peer connection to the host.
func connectOnce(ctx context.Context, cfg Config, key ed25519.PrivateKey) (*session.ViewerConn, error) {
	rs, err := rendezvous.Dial(ctx, cfg.Rendezvous, cfg.HostID, nil)
	if err != nil {
		return nil, err
	}
	scfg := cfg.Session
	scfg.Logger = cfg.Logger
	// The rendezvous's servers (with this session's TURN credentials), then the viewer's own.
	scfg.ICEServers = append(session.ICEServers(rs.ICEServers()), scfg.ICEServers...)
	// When the network path dies (the viewer's address changed), the session restarts ICE
	// through a fresh rendezvous session (docs/session.md, "Moving networks").
	scfg.Resignal = func(ctx context.Context) (session.Signaler, error) {
		rs, err := rendezvous.Dial(ctx, cfg.Rendezvous, cfg.HostID, nil)
		if errors.Is(err, rendezvous.ErrHostOffline) {
			err = session.PeerOffline(err)
		}
		return rs, err
	}
	scfg.OnRestart = func(r session.RestartInfo) {
		fmt.Fprintf(cfg.Out, "the network changed; the session moved to a new path after %v (path %s, %d-byte packets)\n", r.After.Round(time.Millisecond), r.Path, r.PacketSize)
	}
	conn, err := session.Dial(ctx, rs, cfg.HostID, scfg, auth.ViewerConfig{Key: key, Code: cfg.Code})
	// Signaling is only needed to set up; the peer connection goes on without it.
	rs.Close()
	if err != nil {
		return nil, fmt.Errorf("connecting to host %s: %w", cfg.HostID, err)
	}
	if cfg.KnownHostsPath != "" {
		added, err := knownhosts.Pin(cfg.KnownHostsPath, cfg.HostID, conn.Result.HostKey)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if added {
			fmt.Fprintf(cfg.Out, "added host %s (%s) to %s\n", cfg.HostID, identity.Fingerprint(conn.Result.HostKey), cfg.KnownHostsPath)
		}
	}
	return conn, nil
}

// errConnEnded is what a viewer reports when the host or the network ends a running session.
var errConnEnded = errors.New("the connection to the host ended (the host closed the session, or the network between you failed)")

// ended says why conn's running session ended: the host went away (session.ErrHostGone), it
// restarted and no longer has the session (session.ErrHostRestarted), or errConnEnded.
func ended(conn *session.ViewerConn) error {
	if err := conn.Err(); errors.Is(err, session.ErrHostGone) || errors.Is(err, session.ErrHostRestarted) {
		return err
	}
	return errConnEnded
}

// Forwards lists the ssh-style forwards to run.
type Forwards struct {
	Local   []string // -L [bind:]port:host:hostport
	Remote  []string // -R [bind:]port:host:hostport
	Dynamic []string // -D [bind:]port
}

// Forward connects and runs the forwards until ctx is done or the connection ends.
func Forward(ctx context.Context, cfg Config, fw Forwards) error {
	if len(fw.Local)+len(fw.Remote)+len(fw.Dynamic) == 0 {
		return errors.New("nothing to forward; give at least one of -L, -R or -D")
	}
	// Parse everything before connecting so a typo costs no connection.
	var locals []forward.LocalSpec
	for _, s := range fw.Local {
		spec, err := forward.ParseLocalSpec(s)
		if err != nil {
			return fmt.Errorf("-L %s: %w", s, err)
		}
		locals = append(locals, spec)
	}
	var remotes []forward.RemoteSpec
	for _, s := range fw.Remote {
		spec, err := forward.ParseRemoteSpec(s)
		if err != nil {
			return fmt.Errorf("-R %s: %w", s, err)
		}
		remotes = append(remotes, spec)
	}
	var dynamics []forward.DynamicSpec
	for _, s := range fw.Dynamic {
		spec, err := forward.ParseDynamicSpec(s)
		if err != nil {
			return fmt.Errorf("-D %s: %w", s, err)
		}
		dynamics = append(dynamics, spec)
	}
	// Listen before connecting too: a port in use is the user's to fix, not the host's.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	listen := func(addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s: %w (is the port already in use?)", addr, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	localLns := make([]net.Listener, len(locals))
	for i, spec := range locals {
		ln, err := listen(spec.ListenAddr())
		if err != nil {
			return err
		}
		localLns[i] = ln
	}
	dynLns := make([]net.Listener, len(dynamics))
	for i, spec := range dynamics {
		ln, err := listen(spec.ListenAddr())
		if err != nil {
			return err
		}
		dynLns[i] = ln
	}

	conn, err := Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := forward.NewClient(conn.Mux, cfg.Logger)
	client.Pick = conn.Bulk
	fmt.Fprintf(cfg.Out, "connected to host %s (%s, path %s, %s)\n", cfg.HostID, conn.Result.Method, conn.CandidateType(), bulkPath(conn))
	var need []string
	if len(locals)+len(dynamics) > 0 {
		need = append(need, "forward")
	}
	if len(remotes) > 0 {
		need = append(need, "listen")
	}
	if _, err := checkGrants(ctx, cfg, conn, need...); err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(locals)+len(remotes)+len(dynamics)+1)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	run(func() error { return client.Serve(ctx) })
	for i, spec := range locals {
		ln, target := localLns[i], spec.Target()
		fmt.Fprintf(cfg.Out, "forwarding %s -> %s on the host\n", ln.Addr(), target)
		run(func() error { return client.ServeLocal(ctx, ln, target) })
	}
	for i := range dynamics {
		ln := dynLns[i]
		fmt.Fprintf(cfg.Out, "SOCKS5 proxy on %s, destinations reached from the host\n", ln.Addr())
		run(func() error { return client.ServeSOCKS(ctx, ln) })
	}
	for _, spec := range remotes {
		bind, target := spec.ListenAddr(), spec.Target()
		run(func() error {
			return client.Remote(ctx, bind, target, func(bound string) {
				fmt.Fprintf(cfg.Out, "remote forwarding %s on the host -> %s here\n", bound, target)
			})
		})
	}
	select {
	case <-ctx.Done():
		err = nil
	case <-conn.Done():
		err = ended(conn)
	case err = <-errs:
		if conn.Mux.IsClosed() {
			err = ended(conn)
		}
	}
	cancel()
	for _, ln := range lns {
		ln.Close()
	}
	conn.Close()
	wg.Wait()
	return err
}

// Stdio connects, opens one stream to target and joins it to in/out, for ssh's ProxyCommand.
// When stdin ends the target sees EOF and its answer still comes back; when either end is gone
// for good (stdout closed, the target reset) the stream is reset, so the host closes the target
// at once.
func Stdio(ctx context.Context, cfg Config, target string, in io.Reader, out io.Writer) error {
	// Without this a write to a stdout whose reader exited kills the process with SIGPIPE before
	// it can tell the host; with it the write fails with EPIPE and the stream is reset.
	signal.Ignore(syscall.SIGPIPE)
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := forward.NewClient(conn.Mux, cfg.Logger)
	client.Pick = conn.Bulk
	stream, err := client.Dial(ctx, target)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-conn.Done():
			cancel()
		case <-sctx.Done():
		}
	}()
	// The stdin reader cannot be interrupted; it ends with the process, which stdio is.
	err = forward.Splice(sctx, stream, in, out)
	select {
	case <-conn.Done():
		return ended(conn)
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// bulkPath says how forwards and files travel, for the "connected" line.
func bulkPath(conn *session.ViewerConn) string {
	s := fmt.Sprintf("%d-byte packets", conn.SCTPPacketSize())
	if conn.Lane() != nil {
		s += "; forwards over direct TCP"
	}
	return s
}
