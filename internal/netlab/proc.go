package netlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a running program whose output can be waited on.
type proc struct {
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	wake  chan struct{} // closed and replaced on every new line
	done  chan struct{} // closed when the output ends
	read  sync.WaitGroup
}

func startProc(cmd *exec.Cmd, name string) (*proc, error) {
	p := &proc{name: name, cmd: cmd, wake: make(chan struct{}), done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// SIGTERM when the context ends, so the program can say goodbye; killed 5 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.read.Add(1)
	go func() {
		defer p.read.Done()
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, s.Text())
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		p.read.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitFor waits until a line matches re and returns its submatches.
func (p *proc) waitFor(ctx context.Context, re string) ([]string, error) {
	rx := regexp.MustCompile(re)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := rx.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m, nil
			}
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if seen == n {
				return nil, fmt.Errorf("%s exited (%v) before printing /%s/:\n%s", p.name, p.cmd.ProcessState, re, p.output())
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%s did not print /%s/ in time:\n%s", p.name, re, p.output())
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// stop ends the program with SIGTERM (then SIGKILL) and waits for it.
func (p *proc) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
