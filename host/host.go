// Package host is the deskport host agent: it registers with a rendezvous under its key, answers
// viewers, authenticates each one (trusted key or one-time code) and serves each session's
// streams on two mux dispatchers: the tunnel channel (port forwards under the host's forward
// policy, files) and the interactive channel (input, the desktop control stream, the
// clipboard). Established sessions outlive rendezvous restarts; Shutdown drains them, Close
// ends them at once.
package host

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/audit"
	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/files"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/tempfork/yamux"
	"github.com/deskport/deskport/web"
)

// Config is everything the agent needs. The zero value is not runnable: Rendezvous and KeyPath
// are required (the command line fills in defaults).
type Config struct {
	// Rendezvous is the signaling server's URL (http:// or https://); several URLs separated by
	// commas are instances of one rendezvous cluster, between which the agent fails over.
	Rendezvous string
	// KeyPath is the host's ed25519 key; it is created (mode 0600) when missing.
	KeyPath string
	// AuthorizedViewersPath lists the viewer keys allowed in (authorized_keys syntax). A missing
	// file means no trusted keys; an unreadable or malformed one stops the agent.
	AuthorizedViewersPath string
	// Allow is the host-wide forward allowlist (`host:port`, `host:lo-hi`, `cidr:port`).
	// Nothing is forwarded unless listed.
	Allow []string
	// AllowListen is where reverse forwards (-R) may listen (`[bind:]port[-port]`).
	AllowListen []string
	// Code makes the host accept one-time codes; the code is printed to Out.
	Code bool
	// CodeTTL is how long a code stays valid; zero means 10 minutes.
	CodeTTL time.Duration
	// MaxStreams caps concurrent streams on a viewer's tunnel channel (forwards and files); zero
	// means mux.DefaultMaxStreams.
	MaxStreams int
	// Session holds the WebRTC settings.
	Session session.Config
	// Desktop says whether and how the screen is offered.
	Desktop DesktopConfig
	// Listen is where the embedded rendezvous listens when Rendezvous is empty.
	Listen string
	// TLSCert and TLSKey make the embedded rendezvous serve HTTPS with this certificate (PEM
	// files), which browsers on other machines need for the viewer page.
	TLSCert, TLSKey string
	// AuditLogPath is where the JSON-lines audit log goes (sessions, capabilities, forwards,
	// files, refusals); empty means none.
	AuditLogPath string
	// FilesRoot is the directory viewers with the files capability put files into and get them
	// from; paths cannot leave it. Empty means no file transfer.
	FilesRoot string
	// MetricsListen, when set, serves the agent's Prometheus series at /metrics on this address
	// (docs/metrics.md); empty means none. MetricsListener, when set, is used instead (tests
	// listen on :0); Run closes it.
	MetricsListen   string
	MetricsListener net.Listener
	// Logger receives the agent's structured log; nil discards it.
	Logger *slog.Logger
	// Out receives what the person running the host must read (host ID, one-time code).
	Out io.Writer
	// Interactive says a person at a terminal can ask for a new code (NewCode).
	Interactive bool
	// CodeGrants are the capabilities a one-time-code session gets; the zero value means view
	// only. Trusted keys get theirs from their authorized_viewers options.
	CodeGrants Caps
	// Consent, when set, is asked before a one-time-code session starts; it returns what the
	// owner grants (intersected with CodeGrants) or false to refuse. While it runs, input
	// injection is paused for every session, so injected keys can never answer it.
	Consent func(ctx context.Context, req ConsentRequest) (Caps, bool)
}

// Agent is a running host.
type Agent struct {
	// gate caps the sessions that have not authenticated yet (session.Gate).
	gate *session.Gate
	// restarts finds the running session a viewer's ICE restart belongs to.
	restarts *session.Restarts
	cfg      Config
	key      ed25519.PrivateKey
	id       string
	log      *slog.Logger
	codes    *auth.CodeStore
	policy   *forward.Policy
	listen   *forward.ListenPolicy

	desk    *desktop
	audit   *audit.Log
	metrics *hostMetrics
	// prompting counts consent prompts on screen; input is dropped while it is non-zero.
	prompting atomic.Int32

	mu       sync.Mutex
	keys     map[string]auth.AuthorizedKey
	sessions map[*session.HostConn]SessionInfo
	kicked   map[*session.HostConn]bool // sessions Kick ended, until their end is audited
	wg       sync.WaitGroup
	life     lifecycle
}

// New loads the key and the policy. It refuses to start on a policy it cannot read or enforce.
func New(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 10 * time.Minute
	}
	if cfg.Rendezvous != "" && (cfg.TLSCert != "" || cfg.TLSKey != "") {
		return nil, errors.New("--tls-cert and --tls-key are for the embedded rendezvous (no --rendezvous); a separate rendezvous serves HTTPS with its own --tls-cert or --acme")
	}
	if cfg.MetricsListen != "" && cfg.Rendezvous == "" && cfg.MetricsListen == cfg.Listen {
		return nil, fmt.Errorf("--metrics-listen %s is the embedded rendezvous's --listen address: give the metrics a listener of their own, e.g. 127.0.0.1:9091", cfg.MetricsListen)
	}
	if cfg.Rendezvous == "" {
		// The embedded default is for a person at this machine: a link and a code.
		cfg.Code = true
	}
	if cfg.CodeGrants == (Caps{}) {
		cfg.CodeGrants = Caps{View: true}
	}
	key, created, err := identity.LoadOrCreateKey(cfg.KeyPath, "deskport host")
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, key: key, id: identity.HostID(key.Public().(ed25519.PublicKey)), sessions: map[*session.HostConn]SessionInfo{},
		gate: session.NewGate(0, 0), restarts: session.NewRestarts()}
	a.log = cfg.Logger.With("host_id", a.id)
	a.metrics = newHostMetrics(a)
	if created {
		a.log.Info("created a new host key", "path", cfg.KeyPath)
	}
	if a.policy, err = forward.NewPolicy(cfg.Allow, nil); err != nil {
		return nil, fmt.Errorf("--allow: %w", err)
	}
	if a.listen, err = forward.NewListenPolicy(cfg.AllowListen); err != nil {
		return nil, fmt.Errorf("--allow-listen: %w", err)
	}
	if err := a.loadAuthorized(); err != nil {
		return nil, err
	}
	if cfg.AuditLogPath != "" {
		if a.audit, err = audit.Open(cfg.AuditLogPath); err != nil {
			return nil, fmt.Errorf("--audit-log: %w", err)
		}
	}
	if cfg.FilesRoot != "" {
		// Check the root now (and create it), so a bad --files-root stops the start.
		fs, err := files.NewServer(files.Config{Root: cfg.FilesRoot})
		if err != nil {
			return nil, fmt.Errorf("--files-root: %w", err)
		}
		fs.Close()
	}
	if cfg.Code {
		a.codes = auth.NewCodeStore(cfg.CodeTTL, nil)
	}
	return a, nil
}

// ID is the host ID viewers connect to.
func (a *Agent) ID() string { return a.id }

func (a *Agent) loadAuthorized() error {
	keys := map[string]auth.AuthorizedKey{}
	if a.cfg.AuthorizedViewersPath != "" {
		list, err := auth.LoadAuthorizedViewers(a.cfg.AuthorizedViewersPath)
		if err != nil {
			return fmt.Errorf("refusing to start with an unreadable policy: %w", err)
		}
		for _, k := range list {
			keys[string(k.Key)] = k
		}
	}
	a.mu.Lock()
	a.keys = keys
	a.mu.Unlock()
	return nil
}

func (a *Agent) authorized(pub ed25519.PublicKey) (auth.Options, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.keys[string(pub)]
	return k.Options, ok
}

// Run registers with the rendezvous and serves viewers until ctx is done, then ends every
// session and returns. With no rendezvous configured it runs one in-process (the embedded
// default) and prints the browser link.
func (a *Agent) Run(ctx context.Context) error {
	ctx, done := a.begin(ctx)
	defer done()
	mln := a.cfg.MetricsListener
	if mln == nil {
		var err error
		if mln, err = a.listenMetrics(); err != nil {
			return err
		}
	}
	if mln != nil {
		mctx, stopMetrics := context.WithCancel(ctx)
		served := make(chan struct{})
		go func() { defer close(served); a.serveMetrics(mctx, mln) }()
		defer func() { stopMetrics(); <-served }()
	}
	if !a.cfg.Desktop.Disabled {
		d, err := startDesktop(ctx, a.desktopConfig(), a.log)
		switch {
		case err == nil:
			d.onFrame = a.metrics.frame
			a.desk = d
			defer d.close()
		case a.cfg.Desktop.VirtualDisplay != "" || a.cfg.Desktop.Display != "":
			return err
		default:
			a.log.Warn("not sharing the screen; serving port forwards only", "reason", err)
		}
	}
	var embedded *embeddedRendezvous
	if a.cfg.Rendezvous == "" {
		var err error
		if embedded, err = startEmbedded(ctx, a.cfg, a.cfg.Logger); err != nil {
			return err
		}
		defer embedded.close()
		a.cfg.Rendezvous = embedded.url
	}
	fmt.Fprintf(a.cfg.Out, "host ID: %s\n", a.id)
	if embedded != nil {
		fmt.Fprintf(a.cfg.Out, "open in a browser: %s/#%s\n", embedded.link, a.id)
	}
	if a.codes != nil {
		a.NewCode()
	}
	if len(a.keys) == 0 && a.codes == nil {
		a.log.Warn("no viewer can connect: the authorized_viewers file lists no keys and --code is off", "authorized_viewers", a.cfg.AuthorizedViewersPath)
	}
	ctl, err := a.listenAdmin()
	if err != nil {
		a.log.Warn("no admin socket: `host sessions` and `host kick` will not reach this agent", "err", err)
	} else {
		defer ctl.Close()
	}
	var notifyWG sync.WaitGroup
	defer notifyWG.Wait()
	notifyCtx, stopNotify := context.WithCancel(ctx)
	defer stopNotify()
	a.notifyReady(notifyCtx, &notifyWG)
	hc := &rendezvous.HostClient{URL: a.cfg.Rendezvous, Key: a.key, Logger: a.cfg.Logger}
	if embedded != nil {
		hc.Dialer = embedded.dialer
	}
	err = hc.Run(ctx, func(s *rendezvous.Session) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.serve(ctx, s)
		}()
	})
	a.mu.Lock()
	for c := range a.sessions {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
	if cerr := a.audit.Close(); cerr != nil && a.audit != nil {
		a.log.Error("audit log", "err", cerr)
	}
	return err
}

// NewCode replaces the one-time code with a fresh one and prints it. A code is good for one
// attempt, right or wrong; no new one is issued by itself, so a stranger guessing cannot make the
// host show code after code. The command line calls this when its owner presses Enter.
func (a *Agent) NewCode() {
	if a.codes == nil {
		return
	}
	code, expires := a.codes.Generate()
	if code == "" {
		a.log.Error("could not generate a one-time code (no randomness)")
		return
	}
	fmt.Fprintf(a.cfg.Out, "one-time code: %s (valid until %s, one attempt)\n", code, expires.Format("15:04:05"))
}

func (a *Agent) codeHint() string {
	if a.cfg.Interactive {
		return "press Enter for a new one-time code"
	}
	return "restart the host with --code for a new one"
}

// serve runs one viewer session from offer to end.
func (a *Agent) serve(ctx context.Context, s *rendezvous.Session) {
	defer s.Close()
	if a.refuseDraining(ctx, s) {
		return
	}
	log := a.log.With("session", s.ID(), "viewer_addr", s.ViewerAddr())
	cfg := a.cfg.Session
	cfg.Logger = log
	cfg.Gate, cfg.Source = a.gate, s.ViewerAddr()
	cfg.Restarts = a.restarts
	if a.desk != nil {
		cfg.Video = a.desk.videoConfig()
		// The encoder is made while the viewer connects and authenticates, not after.
		a.desk.prewarm()
	}
	// The rendezvous's servers (with this session's TURN credentials), then the agent's own.
	cfg.ICEServers = append(session.ICEServers(s.ICEServers()), cfg.ICEServers...)
	conn, err := session.Accept(ctx, s, a.id, cfg, auth.HostConfig{
		Key:        a.key,
		Authorized: a.authorized,
		Codes:      a.codes,
	})
	if errors.Is(err, session.ErrRestarted) {
		// A running session moved to a new path (it logged that), or tried to.
		if err != session.ErrRestarted {
			log.Warn("an ICE restart of a running session did not connect", "err", err)
		}
		return
	}
	if errors.Is(err, session.ErrBadRestart) {
		log.Warn("refused an ICE restart offer", "err", err)
		return
	}
	if errors.Is(err, session.ErrConnectionFailed) {
		// The network failed, not the viewer: it never got as far as authenticating.
		log.Warn("no network path to the viewer", "err", err)
		a.metrics.refused(err)
		a.audit.Record(audit.Event{Type: audit.TypeNoPath, Session: s.ID(), Remote: s.ViewerAddr(), Error: err.Error()})
		return
	}
	if err != nil {
		log.Warn("viewer refused", "err", err)
		a.metrics.refused(err)
		a.audit.Record(audit.Event{Type: audit.TypeRefused, Session: s.ID(), Remote: s.ViewerAddr(), Error: err.Error()})
		if errors.Is(err, auth.ErrBadCode) || errors.Is(err, auth.ErrCodeExpired) {
			fmt.Fprintln(a.cfg.Out, "the one-time code is used up (a wrong or late attempt); "+a.codeHint())
		}
		return
	}
	defer conn.Close()
	peer := conn.Peer
	viewer := "code"
	if peer.ViewerKey != nil {
		viewer = identity.Fingerprint(peer.ViewerKey)
	}
	log = log.With("viewer", viewer, "method", peer.Method)
	caps := a.capsFor(peer)
	if peer.Method == auth.MethodCode {
		if a.cfg.Consent == nil {
			fmt.Fprintln(a.cfg.Out, "a viewer joined with the one-time code; "+a.codeHint())
		} else {
			// The question comes next, and Enter answers it ("view only"): how to get a new
			// code is said once it is answered, when Enter means that again.
			fmt.Fprintln(a.cfg.Out, "a viewer joined with the one-time code (the code is now used up)")
			granted, ok := a.consent(ctx, conn.Done(), ConsentRequest{SessionID: s.ID(), Viewer: viewer, Addr: s.ViewerAddr(), Offered: caps})
			fmt.Fprintln(a.cfg.Out, "the one-time code is used up; "+a.codeHint())
			if !ok {
				why := "the host owner refused consent"
				select {
				case <-conn.Done():
					why = "the viewer left before the host owner answered"
					log.Info(why)
				default:
					log.Warn("the host owner refused the viewer")
				}
				a.metrics.refusedFor(RefusedConsent)
				a.audit.Record(audit.Event{Type: audit.TypeRefused, Session: s.ID(), Viewer: viewer, Method: peer.Method, Remote: s.ViewerAddr(), Error: why})
				return
			}
			caps = granted.Intersect(caps)
		}
	}
	log = log.With("caps", caps.String())
	if peer.Client != "" {
		// The browser page names its bundle. A label, not a proof (a changed page can claim
		// any version), but a mismatch with the bundle this host embeds says the rendezvous
		// serves another build of the page.
		log = log.With("client", peer.Client)
		if strings.HasPrefix(peer.Client, "deskport-web/") {
			log = log.With("bundle_matches_host", peer.Client == web.BundleVersion())
		}
	}
	log.Info("viewer connected", "path", conn.CandidateType(), "packet_bytes", conn.SCTPPacketSize())
	a.metrics.started(peer.Method)
	started := time.Now()
	base := audit.Event{Session: s.ID(), Viewer: viewer, Method: peer.Method, Remote: s.ViewerAddr()}
	recAll := func(e audit.Event) {
		e.Session, e.Viewer, e.Method, e.Remote = base.Session, base.Viewer, base.Method, base.Remote
		a.audit.Record(e)
	}
	// Every stream open of the session draws from one rate limit; refusals are summarised in
	// the audit log and the log, and a session that keeps opening far over the limit ends.
	guard := newOpenGuard(nil)
	guard.onRefused = a.metrics.streamRefusals.Inc
	rec := guard.record(recAll)
	tlog := slog.New(logHandler{log.Handler(), guard})
	recAll(audit.Event{Type: audit.TypeSessionStart, Capabilities: caps.grantedNames()})
	var endErr error // why the session ended, logged once its end is in the audit log
	defer func() {
		guard.flushAudit(recAll)
		guard.flushLog(log)
		end := audit.Event{Type: audit.TypeSessionEnd, Duration: time.Since(started)}
		a.mu.Lock()
		if a.kicked[conn] {
			end.Error = KickedReason
			delete(a.kicked, conn)
		}
		a.mu.Unlock()
		recAll(end)
		// Last, so that a reader who sees this line finds the session's end audited.
		log.Info("viewer disconnected", "err", endErr)
	}()
	a.mu.Lock()
	a.sessions[conn] = SessionInfo{ID: s.ID(), Viewer: viewer, Method: peer.Method, Addr: s.ViewerAddr(), Caps: caps.String(), Started: time.Now()}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.sessions, conn)
		a.mu.Unlock()
	}()
	a.track(conn, s, peer, viewer, rec)
	defer a.untrack(conn)

	fs := a.sessionFiles(log, rec)
	if fs != nil {
		defer fs.Close()
	}
	scfg := forward.ServerConfig{Logger: tlog, Viewer: viewer, Meter: a.metrics.meter,
		OnForward: func(ev forward.ForwardEvent) {
			e := audit.Event{Type: audit.TypeForward, Target: ev.Target, BytesIn: ev.Sent, BytesOut: ev.Received, Duration: ev.Duration}
			if ev.Kind == mux.KindReverse {
				e.Type = audit.TypeReverse
			}
			if ev.Err != nil {
				e.Error = ev.Err.Error()
				if errors.Is(ev.Err, forward.ErrTargetRefused) {
					e.Type = audit.TypeRefused
				}
			}
			rec(e)
		}}
	scfg.Policy = refuse("this session was not granted port forwarding (a trusted key without no-port-forwarding, or --grant forward for codes)")
	scfg.ListenPolicy = refuse("this session was not granted reverse forwarding (a trusted key without no-port-forwarding, or --grant listen for codes)")
	if caps.Forward {
		if checker, err := a.policyFor(peer.Options); err != nil {
			log.Error("viewer's permitopen options are invalid; refusing its forwards", "err", err)
		} else {
			scfg.Policy = checker
			// The dial checks the address again on the socket: no name reaches an internal
			// address that is not allowed by address.
			scfg.Dialer = checker.DialContext
		}
	}
	if caps.Listen {
		if lp, err := a.listenPolicyFor(peer.Options); err != nil {
			log.Error("viewer's permitlisten options are invalid; refusing its reverse forwards", "err", err)
		} else {
			scfg.ListenPolicy = lp
		}
	}
	it := &interactive{a: a, log: log, ready: make(chan struct{}), moved: make(chan struct{}, 1)}
	if a.desk != nil {
		it.area = a.desk.newArea()
	}
	defer it.close()
	scfg.Policy, scfg.ListenPolicy = guard.policy(scfg.Policy), guard.listenPolicy(scfg.ListenPolicy)
	// The tunnel channel: forwards and files. The interactive channel: input, the desktop
	// control stream and the clipboard, on a dispatcher of its own that knows no forwards.
	tunnelCh := mux.NewDispatcher(conn.Mux, mux.Config{MaxStreams: a.cfg.MaxStreams, Side: "host", Logger: tlog, Streams: a.metrics.streamCount})
	forward.NewServer(scfg).Register(tunnelCh)
	for k, h := range guard.handlers(a.bulkHandlers(fs, caps, guard)) {
		tunnelCh.Handle(k, h)
	}
	interCh := mux.NewDispatcher(conn.Interactive, mux.Config{MaxStreams: 16, Side: "host", Logger: tlog, Streams: a.metrics.streamCount})
	for k, h := range guard.handlers(a.interactiveHandlers(it, caps, guard)) {
		interCh.Handle(k, h)
	}
	if !a.cfg.Session.NoDirectTCP && !a.cfg.Session.RelayOnly {
		// The direct TCP lane carries the tunnel channel's streams, with its handlers and its
		// stream cap (session/lane.go).
		laneHandler := func(ctx context.Context, stream net.Conn, req mux.Request) {
			err := conn.ServeLane(ctx, stream, req, func(ctx context.Context, ls *yamux.Session) {
				if err := tunnelCh.Also(ls).Serve(ctx); err != nil {
					log.Debug("direct TCP lane ended", "err", err)
				}
			})
			if err != nil {
				log.Info("no direct TCP lane", "err", err)
			}
		}
		for k, h := range guard.handlers(map[mux.Kind]mux.Handler{mux.KindLane: laneHandler}) {
			interCh.Handle(k, h)
		}
	}

	var wg sync.WaitGroup
	served := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-guard.abused:
			log.Warn("ending the session: it kept opening streams far over the limit", "rate", OpenRate, "refused_for_rate", guard.overCount())
			recAll(audit.Event{Type: audit.TypeAbuse, Count: guard.overCount(),
				Error: fmt.Sprintf("session ended: it kept opening streams far over %d a second", OpenRate)})
			conn.Close()
		case <-served:
		}
	}()
	if conn.Video != nil && caps.View {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.desk.stream(ctx, conn, it, log)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := interCh.Serve(ctx); err != nil {
			log.Debug("interactive channel ended", "err", err)
		}
		conn.Close()
	}()
	err = tunnelCh.Serve(ctx)
	conn.Close()
	close(served)
	wg.Wait()
	endErr = err
}
