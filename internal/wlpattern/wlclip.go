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

// BuildClip compiles wlclip (client/wlclip.c), the Wayland clipboard test client, into dir. It
// needs gcc, pkg-config, libwayland-dev and wayland-protocols.
func BuildClip(dir string) (string, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "client", "wlclip.c")
	pc := exec.Command("pkg-config", "--variable=pkgdatadir", "wayland-protocols")
	out, err := pc.Output()
	if err != nil {
		return "", fmt.Errorf("wlclip: wayland-protocols is not installed (pkg-config: %v)", err)
	}
	xml := filepath.Join(strings.TrimSpace(string(out)), "stable", "xdg-shell", "xdg-shell.xml")
	gen, err := os.MkdirTemp(dir, "wlclip-gen")
	if err != nil {
		return "", err
	}
	for _, step := range [][]string{
		{"wayland-scanner", "client-header", xml, filepath.Join(gen, "xdg-shell-client-protocol.h")},
		{"wayland-scanner", "private-code", xml, filepath.Join(gen, "xdg-shell-protocol.c")},
	} {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("wlclip: %s: %v\n%s", strings.Join(step, " "), err, out)
		}
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "wayland-client").Output()
	if err != nil {
		return "", fmt.Errorf("wlclip: libwayland-dev is not installed (pkg-config: %v)", err)
	}
	bin := filepath.Join(dir, "wlclip")
	args := append([]string{"-O2", "-Wall", "-I", gen, "-o", bin, src, filepath.Join(gen, "xdg-shell-protocol.c")}, strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("wlclip: gcc: %v\n%s", err, out)
	}
	return bin, nil
}

// Clip is a running wlclip: a Wayland client with a small window that copies text on request
// and reports every clipboard change.
type Clip struct {
	t     testing.TB
	stdin *os.File
	lines chan string
}

// StartClip runs wlclip (built by BuildClip) in the session and returns once its window has
// the keyboard focus (a Wayland client may use the clipboard only then). It is stopped with
// the session.
func StartClip(t testing.TB, bin string, s Starter) *Clip {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	if err := s.Start(cmd); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	c := &Clip{t: t, stdin: inW, lines: make(chan string, 64)}
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 16<<20) // a selection line carries the whole text
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { inW.Close() })
	c.Expect("focus")
	return c
}

// Expect returns the next line that starts with prefix, skipping others (within 20 s, a hang
// guard).
func (c *Clip) Expect(prefix string) string {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	var skipped []string
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("wlclip exited while the test waited for %q (after %q)", prefix, skipped)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
			if len(l) > 80 {
				l = l[:80] + "..."
			}
			skipped = append(skipped, l)
		case <-deadline:
			c.t.Fatalf("wlclip: no %q line in 20 s (skipped %q)", prefix, skipped)
		}
	}
}

// Selection waits for the next clipboard text the client reads (skipping a cleared clipboard
// or one without text) and returns it.
func (c *Clip) Selection() string {
	c.t.Helper()
	l := c.Expect("selection ")
	return Unescape(strings.TrimPrefix(l, "selection "))
}

// Copy makes the client take the clipboard with text, and returns once the client has read
// its own text back as the clipboard (so that the next Selection is someone else's).
func (c *Clip) Copy(text string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.stdin, "copy %s\n", Escape(text)); err != nil {
		c.t.Fatal(err)
	}
	c.Expect("copied")
	if got := c.Selection(); got != text {
		c.t.Fatalf("wlclip copied %d bytes and read back %d", len(text), len(got))
	}
}

// Escape writes bytes outside printable ASCII, and '\', as \xNN (wlclip's and wlpattern's
// form).
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > 0x20 && c < 0x7f && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// Unescape reverses Escape.
func Unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		var v byte
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if _, err := fmt.Sscanf(s[i+2:i+4], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
