//go:build linux

// Package procgroup runs the programs of a private desktop session — a bus, PipeWire, a
// compositor, a portal — each in its own process group, keeps the tail of each one's standard
// error for error messages, and stops them in the reverse order of their start. screen/mutter's
// and screen/portal's headless sessions are built on it.
package procgroup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Group is a set of programs started together and stopped together.
type Group struct {
	// Prefix starts every error message ("mutter", "portal").
	Prefix string
	// Dir is the programs' working directory.
	Dir string
	// Env is the programs' environment, asked at each start (it may grow as the session comes
	// up, as when a compositor names its socket).
	Env func() []string
	// Log receives each program's standard error lines at Debug.
	Log *slog.Logger

	mu    sync.Mutex
	procs []*Proc // Spawn's, in start order
	runs  []*Proc // Start's
	once  sync.Once
}

// Proc is one running program.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	tail tail
}

// Options are Spawn's optional settings.
type Options struct {
	Env    []string            // added to the group's environment
	Stdout bool                // return a pipe of the program's standard output
	Cred   *syscall.Credential // run as another user
}

// Spawn starts a session program in its own process group, killed with this process if it dies
// without Close; Close stops it after the programs started with Start, in reverse order.
func (g *Group) Spawn(name string, args []string, o Options) (*Proc, io.ReadCloser, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(g.Env(), o.Env...)
	cmd.Dir = g.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: o.Cred}
	p := &Proc{Name: filepath.Base(name), cmd: cmd, done: make(chan struct{}), tail: tail{max: 4096}}
	var out io.ReadCloser
	var err error
	if o.Stdout {
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", g.Prefix, err)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", g.Prefix, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: start %s: %w", g.Prefix, name, err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.tail.write(sc.Text() + "\n")
			if g.Log != nil {
				g.Log.Debug(p.Name, "msg", sc.Text())
			}
		}
	}()
	go func() {
		<-logDone
		cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, out, nil
}

// Start runs cmd inside the session (its environment replaced by the group's) in its own
// process group; Close stops it before the session's own programs. Start waits for it, so give
// it *os.File outputs (os.Pipe), not StdoutPipe.
func (g *Group) Start(cmd *exec.Cmd) error {
	cmd.Env = g.Env()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", g.Prefix, cmd.Path, err)
	}
	p := &Proc{Name: cmd.Path, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.runs = append(g.runs, p)
	g.mu.Unlock()
	return nil
}

// Close stops the programs started with Start, then the spawned ones, last first. It is
// idempotent.
func (g *Group) Close() {
	g.once.Do(func() {
		g.mu.Lock()
		runs, procs := g.runs, g.procs
		g.mu.Unlock()
		for _, p := range runs {
			p.Stop()
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
	})
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Said is the tail of what the program wrote to standard error so far.
func (p *Proc) Said() string { return p.tail.String() }

// Why waits for the program to exit and says why it did: the tail of its standard error, or
// its exit status.
func (p *Proc) Why() string {
	<-p.done
	if s := strings.TrimSpace(p.tail.String()); s != "" {
		return s
	}
	return p.cmd.ProcessState.String()
}

// Stop ends the program's process group: SIGTERM, then SIGKILL after 5 s.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return // its group may be gone and its id reused
	default:
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
}

// tail keeps the last max bytes written, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) write(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, s...)
	if t.max > 0 && len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// StartBus spawns dbus-daemon with args (which must include --print-address=1) and returns
// the address it prints once it listens.
func (g *Group) StartBus(ctx context.Context, args []string) (string, error) {
	p, out, err := g.Spawn("dbus-daemon", args, Options{Stdout: true})
	if err != nil {
		return "", err
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		if a == "" {
			return "", fmt.Errorf("%s: dbus-daemon did not start: %s", g.Prefix, p.Why())
		}
		return a, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%s: waiting for dbus-daemon: %w", g.Prefix, ctx.Err())
	}
}
