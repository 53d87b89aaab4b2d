// Package xpatterntest builds and drives the xpattern program from tests: build it once in
// TestMain, start it on a test's Xvfb, and step its pattern.
package xpatterntest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/screen/xvfb"
)

// Build compiles xpattern into dir and returns the binary's path. It needs the go command.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "xpattern")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/deskport/deskport/internal/xpattern").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building xpattern: %v\n%s", err, out)
	}
	return bin, nil
}

// Proc is a running xpattern.
type Proc struct {
	t     testing.TB
	stdin io.WriteCloser
	lines chan string
	proc  *xvfb.Proc
	// N is the blocks pattern number on screen (see pattern.Block).
	N int
}

// Start runs xpattern (built by Build) on srv with the given pattern ("blocks" or "clock") and
// returns once the picture is on screen. It is stopped when the test ends.
func Start(t testing.TB, bin string, srv *xvfb.Server, mode string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, "-display", srv.Display(), "-pattern", mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	proc, err := srv.Start(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, stdin: stdin, lines: make(chan string, 16), proc: proc}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		proc.Stop()
	})
	if got := p.expect(); got != "ready" {
		t.Fatalf("xpattern: want ready, got %q (stderr: %s)", got, stderr.String())
	}
	return p
}

// expect returns the next line xpattern prints.
func (p *Proc) expect() string {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "<exited>"
		}
		return l
	case <-time.After(30 * time.Second):
		return "<no answer in 30s>"
	}
}

// Do sends a command ("next", "blocks", "clock") and returns once its result is on screen.
func (p *Proc) Do(cmd string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		p.t.Fatalf("xpattern %s: %v", cmd, err)
	}
	if got := p.expect(); got != "ok" {
		p.t.Fatalf("xpattern %s: want ok, got %q", cmd, got)
	}
	if cmd == "next" {
		p.N++
	}
}

// Next shifts the blocks by one colour and returns once the change is on screen.
func (p *Proc) Next() { p.t.Helper(); p.Do("next") }
