// Package wlpattern builds and drives the wlpattern test client (client/wlpattern.c): a
// Wayland program that paints internal/xpattern's blocks or clock pattern fullscreen and reports
// the pointer buttons, scrolls and keys that reach it. It is the Wayland twin of xpattern, for
// the tests of the GNOME (Mutter) backend and the Wayland section of deskport-bench. The clock
// (`wlpattern -pattern clock`, or the "clock" command) is repainted on every frame callback, so
// the screen changes in every frame the compositor draws.
package wlpattern

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Build compiles wlpattern into dir with gcc, generating the xdg-shell glue with
// wayland-scanner. It needs gcc, pkg-config, libwayland-dev, wayland-protocols and
// libxkbcommon-dev.
func Build(dir string) (string, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "client", "wlpattern.c")
	pc := exec.Command("pkg-config", "--variable=pkgdatadir", "wayland-protocols")
	out, err := pc.Output()
	if err != nil {
		return "", fmt.Errorf("wlpattern: wayland-protocols is not installed (pkg-config: %v)", err)
	}
	xml := filepath.Join(strings.TrimSpace(string(out)), "stable", "xdg-shell", "xdg-shell.xml")
	for _, step := range [][]string{
		{"wayland-scanner", "client-header", xml, filepath.Join(dir, "xdg-shell-client-protocol.h")},
		{"wayland-scanner", "private-code", xml, filepath.Join(dir, "xdg-shell-protocol.c")},
	} {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("wlpattern: %s: %v\n%s", strings.Join(step, " "), err, out)
		}
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "wayland-client", "xkbcommon").Output()
	if err != nil {
		return "", fmt.Errorf("wlpattern: libwayland-dev or libxkbcommon-dev is not installed (pkg-config: %v)", err)
	}
	bin := filepath.Join(dir, "wlpattern")
	args := append([]string{"-O2", "-Wall", "-I", dir, "-o", bin, src, filepath.Join(dir, "xdg-shell-protocol.c")}, strings.Fields(string(flags))...)
	args = append(args, "-lm")
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("wlpattern: gcc: %v\n%s", err, out)
	}
	return bin, nil
}

// Starter runs a command inside a Wayland session (mutter.Headless.Start).
type Starter interface {
	Start(cmd *exec.Cmd) error
}

// Proc is a running wlpattern.
type Proc struct {
	t     testing.TB
	stdin *os.File
	lines chan string
	// N is the blocks pattern number on screen (see pattern.Block).
	N int
	// Width and Height are the window's size.
	Width, Height int
	recent        []string // the last lines skipped, for failure messages
}

func (p *Proc) skip(l string) {
	p.recent = append(p.recent, l)
	if len(p.recent) > 12 {
		p.recent = p.recent[1:]
	}
}

// Start runs wlpattern (built by Build) in the session with the blocks pattern and returns once
// its window is committed. It is stopped with the session.
func Start(t testing.TB, bin string, s Starter) *Proc {
	t.Helper()
	return StartPattern(t, bin, s, "blocks")
}

// StartPattern is Start with the pattern to paint first: "blocks" or "clock".
func StartPattern(t testing.TB, bin string, s Starter, pattern string) *Proc {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-pattern", pattern)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	if err := s.Start(cmd); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	p := &Proc{t: t, stdin: inW, lines: make(chan string, 256)}
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { inW.Close() })
	l := p.Expect("ready ")
	if _, err := fmt.Sscanf(l, "ready %dx%d", &p.Width, &p.Height); err != nil {
		t.Fatalf("wlpattern: %q", l)
	}
	return p
}

// Expect returns the next line that starts with prefix, skipping others (within 20 s, a hang
// guard).
func (p *Proc) Expect(prefix string) string {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("wlpattern exited while the test waited for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
			p.skip(l)
		case <-deadline:
			p.t.Fatalf("wlpattern: no %q line in 20 s (last lines: %q)", prefix, p.recent)
		}
	}
}

// Lines returns the lines wlpattern printed, as they come.
func (p *Proc) Lines() <-chan string { return p.lines }

// PointerAt waits until the client reports the pointer at x, y (entering the window or moving
// in it), so that a click sent next lands there.
func (p *Proc) PointerAt(x, y int) {
	p.t.Helper()
	want := fmt.Sprintf(" %d %d", x, y)
	deadline := time.After(20 * time.Second)
	var last string
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("wlpattern exited while the test waited for the pointer at%s", want)
			}
			if strings.HasPrefix(l, "motion ") || strings.HasPrefix(l, "pointer-enter ") {
				last = l
				if strings.HasSuffix(l, want) {
					return
				}
			}
		case <-deadline:
			p.t.Fatalf("wlpattern: the pointer never reached%s in 20 s (last: %q)", want, last)
		}
	}
}

// Next shows the next pattern and waits until it is committed.
func (p *Proc) Next() {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.stdin, "next"); err != nil {
		p.t.Fatal(err)
	}
	p.N++
	p.Expect(fmt.Sprintf("shown %d", p.N))
}

// Pattern switches to "clock" or "blocks" and waits until the picture is committed.
func (p *Proc) Pattern(mode string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.stdin, mode); err != nil {
		p.t.Fatal(err)
	}
	p.Expect("ok")
}
