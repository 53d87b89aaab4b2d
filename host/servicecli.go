package host

import (
	"context"
	"errors"
	"log/slog"
	"os"
	ossignal "os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/svcinstall"
	"github.com/deskport/deskport/internal/version"
)

// DefaultDrainTimeout is how long a stopping host lets its sessions finish.
const DefaultDrainTimeout = 10 * time.Second

// serviceFlags are what the host command has for running as a service: the config file,
// the drain on SIGTERM, --version and the `service` subcommand.
type serviceFlags struct {
	bind  *configfile.Binding
	drain time.Duration
}

// addServiceFlags is called once the command's own flags are defined; the config file covers
// every flag the command has when it runs, including ones added later.
func addServiceFlags(cmd *cobra.Command) *serviceFlags {
	sf := &serviceFlags{}
	cmd.Flags().DurationVar(&sf.drain, "drain-timeout", DefaultDrainTimeout, "on SIGTERM, how long connected viewers may finish their transfers before the host closes (new viewers are refused at once)")
	sf.bind = configfile.Bind(cmd, "host")
	version.AddFlag(cmd)
	cmd.AddCommand(svcinstall.NewCommand(svcinstall.Spec{
		Name:         "host",
		Description:  "deskport host agent",
		Display:      true,
		DrainTimeout: DefaultDrainTimeout,
		Flags:        NewCommand,
	}))
	return sf
}

// run runs the agent as a service would: SIGTERM or SIGINT (ctx done) drains for
// --drain-timeout and a second one closes at once; SIGHUP, or a change to the config or
// authorized_viewers file, reloads the policy.
func (sf *serviceFlags) run(cmd *cobra.Command, a *Agent, cfg *Config) error {
	ctx := cmd.Context()
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.WithoutCancel(ctx)) }()

	hup := make(chan os.Signal, 1)
	ossignal.Notify(hup, syscall.SIGHUP)
	defer ossignal.Stop(hup)
	changed, stopWatch := sf.watch(a.log, cfg)
	defer stopWatch()
	for {
		select {
		case err := <-errc:
			return err
		case <-hup:
			sf.reload(cmd, a, cfg, "SIGHUP")
		case name := <-changed:
			sf.reload(cmd, a, cfg, name+" changed")
		case <-ctx.Done():
			again := make(chan os.Signal, 1)
			ossignal.Notify(again, os.Interrupt, syscall.SIGTERM)
			// A person at a terminal otherwise waits out the drain without knowing why.
			a.log.Info("stopping: open forwards and file transfers get up to --drain-timeout to finish; Ctrl-C again (or a second SIGTERM) closes every session now", "drain_timeout", sf.drain)
			sctx, cancel := context.WithTimeout(context.Background(), sf.drain)
			go func() {
				select {
				case <-again:
					a.log.Warn("second signal: closing every session now")
					cancel()
				case <-sctx.Done():
				}
			}()
			err := a.Shutdown(sctx)
			cancel()
			ossignal.Stop(again)
			runErr := <-errc
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = nil // logged by Shutdown; cutting late sessions is what a stop does
			}
			return errors.Join(runErr, err)
		}
	}
}

// reload re-reads the config file for --allow and --allow-listen (unless the command line
// gave them, which wins as at start) and has the agent re-read authorized_viewers. A file
// that does not parse changes nothing.
func (sf *serviceFlags) reload(cmd *cobra.Command, a *Agent, cfg *Config, why string) {
	rc := ReloadConfig{Allow: cfg.Allow, AllowListen: cfg.AllowListen}
	f, err := sf.bind.Reread(cmd.Flags())
	if err != nil {
		a.log.Error("reload: the config file is invalid; keeping the running policy", "why", why, "err", err)
		return
	}
	if f != nil {
		if !sf.bind.FromCommandLine("allow") {
			rc.Allow, _ = f.Lookup("allow")
		}
		if !sf.bind.FromCommandLine("allow-listen") {
			rc.AllowListen, _ = f.Lookup("allow-listen")
		}
	}
	if err := a.Reload(rc); err != nil {
		a.log.Error("reload failed; keeping the running policy", "why", why, "err", err)
		return
	}
	cfg.Allow, cfg.AllowListen = rc.Allow, rc.AllowListen
}

// watchDebounce gathers the several events one save makes (write, chmod, rename) into one
// reload.
const watchDebounce = 200 * time.Millisecond

// watch reports the base name of the config or authorized_viewers file after it changed. It
// watches their directories, because editors replace a file by renaming a new one over it.
func (sf *serviceFlags) watch(log *slog.Logger, cfg *Config) (<-chan string, func()) {
	out := make(chan string, 1)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("not watching the config files; reload with SIGHUP", "err", err)
		return out, func() {}
	}
	files := map[string]bool{}
	for _, p := range []string{sf.bind.Path(), cfg.AuthorizedViewersPath} {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if err := w.Add(filepath.Dir(abs)); err != nil {
			log.Debug("not watching a config directory", "dir", filepath.Dir(abs), "err", err)
			continue
		}
		files[abs] = true
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var t *time.Timer
		var tc <-chan time.Time
		var last string
		for {
			select {
			case <-done:
				if t != nil {
					t.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !files[filepath.Clean(ev.Name)] {
					continue
				}
				last = filepath.Base(ev.Name)
				if t == nil {
					t = time.NewTimer(watchDebounce)
				} else {
					t.Reset(watchDebounce)
				}
				tc = t.C
			case <-tc:
				tc = nil
				select {
				case out <- last:
				default:
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("config file watch", "err", err)
			}
		}
	}()
	return out, func() {
		close(done)
		w.Close()
		<-stopped
	}
}
