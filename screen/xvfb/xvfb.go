// Package xvfb starts and owns a virtual X server (Xvfb) for hosts without a display and for
// tests: it picks a free display number, waits until the server accepts connections, runs
// programs inside it and stops everything it started on Close.
package xvfb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled means the Xvfb binary is not on $PATH.
var ErrNotInstalled = errors.New("xvfb: Xvfb is not installed (install xvfb: apt-get install xvfb)")

// Config describes the virtual screen. The zero value is a 1280×720×24 screen on a free display.
type Config struct {
	// Width and Height are the screen size in pixels; 0 means 1280×720.
	Width, Height int
	// Depth is the colour depth in bits; 0 means 24 (32 bits per pixel, what capture expects).
	Depth int
	// Display is the display number to use; 0 lets Xvfb pick the first free one.
	Display int
	// Args are extra Xvfb arguments, for example "-extension", "MIT-SHM" to test a fallback.
	Args []string
	// StopTimeout is how long Close waits after SIGTERM before it kills; 0 means 5s.
	StopTimeout time.Duration
	// Logger receives Xvfb's own messages and the programs' lifecycle; nil discards them.
	Logger *slog.Logger
}

// Validate refuses sizes Xvfb would reject or that capture cannot handle.
func (c *Config) Validate() error {
	if c.Width < 0 || c.Height < 0 || c.Width > 16384 || c.Height > 16384 {
		return fmt.Errorf("xvfb: screen size %dx%d out of range (1..16384)", c.Width, c.Height)
	}
	if (c.Width == 0) != (c.Height == 0) {
		return fmt.Errorf("xvfb: give both width and height, not %dx%d", c.Width, c.Height)
	}
	switch c.Depth {
	case 0, 8, 16, 24, 30:
	default:
		return fmt.Errorf("xvfb: depth %d not supported (use 24)", c.Depth)
	}
	if c.Display < 0 {
		return fmt.Errorf("xvfb: display number %d is negative", c.Display)
	}
	return nil
}

// ParseSize reads "1280x720" (as given to --virtual-display) into a width and a height.
func ParseSize(s string) (w, h int, err error) {
	a, b, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if ok {
		w, err = strconv.Atoi(a)
		if err == nil {
			h, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("xvfb: bad screen size %q: want WIDTHxHEIGHT, like 1280x720", s)
	}
	return w, h, nil
}

// Server is a running Xvfb. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	display int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when Xvfb has exited
	waitErr error         // valid after exited is closed
	logDone chan struct{} // closed when the stderr reader has finished
	tail    *tailBuffer

	mu     sync.Mutex
	procs  []*Proc
	closed bool
	once   sync.Once
	err    error
}

// Start runs Xvfb and returns once it accepts connections. ctx bounds the start only; the
// server lives until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	if cfg.Depth == 0 {
		cfg.Depth = 24
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path, err := exec.LookPath("Xvfb")
	if err != nil {
		return nil, ErrNotInstalled
	}

	// Xvfb writes the display number to -displayfd once it is ready for clients; that is both
	// how a free display is chosen without racing other servers and the readiness signal.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("xvfb: %w", err)
	}
	defer r.Close()
	var args []string
	if cfg.Display > 0 {
		args = append(args, ":"+strconv.Itoa(cfg.Display))
	}
	args = append(args,
		"-displayfd", "3",
		"-screen", "0", fmt.Sprintf("%dx%dx%d", cfg.Width, cfg.Height, cfg.Depth),
		// Without -noreset the server resets whenever its last client disconnects, which
		// fails captures that happen to reconnect at that moment.
		"-noreset",
		"-nolisten", "tcp",
	)
	args = append(args, cfg.Args...)
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = sysProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("xvfb: %w", err)
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("xvfb: start %s: %w", path, err)
	}
	w.Close() // only Xvfb holds the write end now: its exit gives us EOF

	s := &Server{
		cfg:     cfg,
		log:     log,
		cmd:     cmd,
		exited:  make(chan struct{}),
		logDone: make(chan struct{}),
		tail:    &tailBuffer{max: 4096},
	}
	go s.copyLog(stderr)
	go func() {
		<-s.logDone // Wait closes the pipe; read it to the end first
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil && line == "" {
			got <- result{err: err}
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		got <- result{n, err}
	}()
	select {
	case res := <-got:
		if res.err == nil {
			s.display = res.n
			log.Info("xvfb started", "display", s.Display(), "size", fmt.Sprintf("%dx%dx%d", cfg.Width, cfg.Height, cfg.Depth), "pid", cmd.Process.Pid)
			return s, nil
		}
		s.stop()
		return nil, fmt.Errorf("xvfb: Xvfb %s did not start: %s", strings.Join(args, " "), s.why())
	case <-ctx.Done():
		s.stop()
		r.Close() // unblocks the reader
		return nil, fmt.Errorf("xvfb: waiting for Xvfb to start: %w", ctx.Err())
	}
}

// why explains a failed start from Xvfb's last messages.
func (s *Server) why() string {
	<-s.exited
	msg := strings.TrimSpace(s.tail.String())
	if msg == "" {
		msg = fmt.Sprint(s.waitErr)
	}
	if strings.Contains(msg, "Server is already active") || strings.Contains(msg, "server already running") {
		msg += fmt.Sprintf(" (display :%d is taken; use 0 to pick a free one)", s.cfg.Display)
	}
	return msg
}

func (s *Server) copyLog(r io.Reader) {
	defer close(s.logDone)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		s.tail.WriteString(line + "\n")
		if strings.TrimSpace(line) != "" {
			s.log.Debug("xvfb", "msg", line)
		}
	}
}

// Display is the server's display name, like ":99", for $DISPLAY.
func (s *Server) Display() string { return ":" + strconv.Itoa(s.display) }

// Number is the display number.
func (s *Server) Number() int { return s.display }

// Size is the screen size Xvfb was started with.
func (s *Server) Size() (w, h int) { return s.cfg.Width, s.cfg.Height }

// Env returns the environment for a program that should draw on this server: the current one
// with DISPLAY replaced.
func (s *Server) Env() []string {
	env := []string{"DISPLAY=" + s.Display()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPLAY=") {
			env = append(env, kv)
		}
	}
	return env
}

// Done is closed when the Xvfb process has exited, for whatever reason.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Close stops the programs started with Run, then Xvfb (SIGTERM, then SIGKILL after
// Config.StopTimeout). It removes nothing: Xvfb deletes its own lock file and socket on SIGTERM.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		procs := s.procs
		s.mu.Unlock()
		var errs []error
		for _, p := range procs {
			if err := p.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.stop(); err != nil {
			errs = append(errs, err)
		}
		s.err = errors.Join(errs...)
		s.log.Info("xvfb stopped", "display", s.Display())
	})
	return s.err
}

// stop ends Xvfb and waits for it.
func (s *Server) stop() error {
	return terminate(s.cmd.Process, s.exited, s.cfg.StopTimeout, false)
}

// terminate sends SIGTERM (to the process group when group is set), waits up to timeout for
// done, then sends SIGKILL and waits again.
func terminate(p *os.Process, done <-chan struct{}, timeout time.Duration, group bool) error {
	select {
	case <-done:
		return nil
	default:
	}
	signal(p, syscall.SIGTERM, group)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	signal(p, syscall.SIGKILL, group)
	<-done
	return fmt.Errorf("xvfb: pid %d ignored SIGTERM for %v and was killed", p.Pid, timeout)
}

// Proc is a program running inside the server.
type Proc struct {
	// Cmd is the started command; read its state, do not Wait on it.
	Cmd     *exec.Cmd
	done    chan struct{}
	err     error
	timeout time.Duration
	once    sync.Once
	stopErr error
}

// Run starts command (a shell command line, like "xterm -geometry 80x24") with DISPLAY set to
// this server. It runs in its own process group and is stopped, with everything it started, by
// Proc.Stop or Server.Close. ctx bounds the start only.
func (s *Server) Run(ctx context.Context, command string) (*Proc, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = s.Env()
	return s.Start(ctx, cmd)
}

// Start starts cmd inside the server like Run does; cmd.Env gets DISPLAY if it has none.
func (s *Server) Start(ctx context.Context, cmd *exec.Cmd) (*Proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = s.Env()
	} else if !hasDisplay(cmd.Env) {
		cmd.Env = append(cmd.Env, "DISPLAY="+s.Display())
	}
	cmd.SysProcAttr = sysProcAttr()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("xvfb: server is closed")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("xvfb: run %q: %w", strings.Join(cmd.Args, " "), err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{}), timeout: s.cfg.StopTimeout}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	s.log.Info("xvfb: started program", "display", s.Display(), "cmd", strings.Join(cmd.Args, " "), "pid", cmd.Process.Pid)
	return p, nil
}

func hasDisplay(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "DISPLAY=") {
			return true
		}
	}
	return false
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the program's exit status; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Stop ends the program's process group (SIGTERM, then SIGKILL) and waits for it. It is
// idempotent; a program that already exited is not an error.
func (p *Proc) Stop() error {
	p.once.Do(func() {
		p.stopErr = terminate(p.Cmd.Process, p.done, p.timeout, true)
	})
	return p.stopErr
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) WriteString(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.WriteString(s)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
