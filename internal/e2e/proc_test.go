package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the binaries TestMain builds once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "deskport-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", dir+"/", "github.com/deskport/deskport/cmd/host", "github.com/deskport/deskport/cmd/viewer", "github.com/deskport/deskport/cmd/rendezvous", "github.com/deskport/deskport/internal/xpattern")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the binaries:", err)
			return 1
		}
		binDir = dir
		// The binaries keep keys, known_hosts, audit logs and the file root under the user's
		// config and home directories: give them throwaway ones.
		home, err := os.MkdirTemp("", "deskport-e2e-home")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(home)
		os.Setenv("HOME", home)
		os.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
		return m.Run()
	}()
	os.Exit(code)
}

func bin(name string) string {
	if filepath.IsAbs(name) { // a system program, such as coturn's turnserver
		return name
	}
	return filepath.Join(binDir, name)
}

// proc is a running binary whose combined output the test can wait on.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	out   bytes.Buffer
	lines []string
	wake  chan struct{}
	done  chan struct{}
	err   error
}

// start runs a binary for the rest of the test; it is stopped with SIGTERM at cleanup.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, name, args...)
}

// startEnv is start with extra environment variables (KEY=value).
func startEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	return startWith(t, env, nil, name, args...)
}

// startWith is start with extra environment variables and a command prefix (such as
// `ip netns exec NS`, which execs the binary, so that signals still reach it).
func startWith(t *testing.T, env, prefix []string, name string, args ...string) *proc {
	t.Helper()
	return startFull(t, nil, env, prefix, name, args...)
}

// startInput is start with a standard input (nil: none) and extra environment variables.
func startInput(t *testing.T, stdin *os.File, env []string, name string, args ...string) *proc {
	t.Helper()
	return startFull(t, stdin, env, nil, name, args...)
}

func startFull(t *testing.T, stdin *os.File, env, prefix []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, wake: make(chan struct{}), done: make(chan struct{})}
	argv := append(append(append([]string{}, prefix...), bin(name)), args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t)), env...)
	if stdin != nil {
		p.cmd.Stdin = stdin
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.out.WriteString(sc.Text() + "\n")
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		<-scanned
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- output of %s %s:\n%s", name, strings.Join(args, " "), p.output())
		}
	})
	return p
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(3 * time.Second):
	}
	// A host drains for --drain-timeout after the first signal while a session still has a
	// stream open, which at a test's end is often one whose viewer was killed and whose ICE
	// has not failed yet; the second signal closes at once, as it does for a user at a terminal.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not stop within 10s of a second SIGTERM; its goroutines follow", p.name)
		p.cmd.Process.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine and exits
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until a line of output matches re and returns its submatches. It fails the
// test if the process exits or the timeout passes first; the timeout is a hang guard, not a
// performance assertion.
func (p *proc) waitFor(re string, timeout time.Duration) []string {
	p.t.Helper()
	return p.waitMatch(re, timeout, nil)
}

// waitMatch is waitFor for the first matching line that accept also takes.
func (p *proc) waitMatch(re string, timeout time.Duration, accept func([]string) bool) []string {
	p.t.Helper()
	m, why := p.tryMatch(re, timeout, accept)
	if m == nil {
		p.t.Fatal(why)
	}
	return m
}

// tryMatch is waitMatch that reports a miss (nil and why) instead of failing the test.
func (p *proc) tryMatch(re string, timeout time.Duration, accept func([]string) bool) ([]string, string) {
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := rx.FindStringSubmatch(p.lines[seen]); m != nil && (accept == nil || accept(m)) {
				p.mu.Unlock()
				return m, ""
			}
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-p.done:
			p.mu.Lock()
			more := seen < len(p.lines)
			p.mu.Unlock()
			if more {
				continue
			}
			return nil, fmt.Sprintf("%s exited (%v) before printing a line matching %q; output:\n%s", p.name, p.err, re, p.output())
		case <-deadline:
			return nil, fmt.Sprintf("%s printed no line matching %q within %v; output:\n%s", p.name, re, timeout, p.output())
		}
	}
}

// wait waits for the process to exit by itself and returns its error.
func (p *proc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v; output:\n%s", p.name, timeout, p.output())
		return nil
	}
}

// run runs a binary to completion and returns its combined output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(name), args...)
	cmd.Env = append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// noConfig points the binaries' default config directory at an empty one: as root they would
// read /etc/deskport, which the packaging test fills while it runs.
func noConfig(t *testing.T) string {
	return "DESKPORT_CONFIG_DIR=" + t.TempDir()
}
