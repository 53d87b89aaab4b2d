package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
)

// browser is headless Chromium driven by browser/viewer.mjs through Playwright.
type browser struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	stder strings.Builder
}

// startBrowser starts the driver; `make node-deps` installs playwright-core for it. Extra
// arguments go to Chromium's command line.
func startBrowser(t *testing.T, chromiumArgs ...string) *browser {
	t.Helper()
	return startBrowserEnv(t, nil, chromiumArgs...)
}

// startBrowserEnv is startBrowser with extra environment variables for the driver (CHROMIUM:
// the browser program to run, such as a wrapper that starts it in a network namespace).
func startBrowserEnv(t *testing.T, env []string, chromiumArgs ...string) *browser {
	t.Helper()
	dir, _ := filepath.Abs("browser")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "playwright-core is not installed in %s", dir)
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		testenv.Missing(t, "/usr/bin/chromium is not installed")
	}
	b := &browser{t: t}
	b.cmd = exec.Command("node", "viewer.mjs")
	b.cmd.Dir = dir
	if len(chromiumArgs) > 0 || len(env) > 0 {
		extra, _ := json.Marshal(chromiumArgs)
		b.cmd.Env = append(append(os.Environ(), "CHROMIUM_EXTRA_ARGS="+string(extra)), env...)
	}
	var err error
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.cmd.Stderr = &b.stder
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	b.out = bufio.NewScanner(stdout)
	b.out.Buffer(make([]byte, 1<<20), 1<<20)
	t.Cleanup(func() {
		b.in.Write([]byte("quit\n"))
		b.in.Close()
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			b.cmd.Process.Kill()
			<-done
		}
	})
	return b
}

// do sends one command and returns the driver's JSON answer; a failed command fails the test.
func (b *browser) do(args ...string) map[string]any {
	b.t.Helper()
	res := b.try(args...)
	if ok, _ := res["ok"].(bool); !ok {
		b.t.Fatalf("browser %s: %v\nlogs: %v\nstderr: %s", strings.Join(args, " "), res["error"], res["logs"], b.stder.String())
	}
	return res
}

// try is do without failing on an unsuccessful command.
func (b *browser) try(args ...string) map[string]any {
	b.t.Helper()
	if _, err := io.WriteString(b.in, strings.Join(args, " ")+"\n"); err != nil {
		b.t.Fatalf("browser driver gone: %v\n%s", err, b.stder.String())
	}
	if !b.out.Scan() {
		b.t.Fatalf("browser driver ended without answering %q: %v\n%s", args[0], b.out.Err(), b.stder.String())
	}
	var res map[string]any
	if err := json.Unmarshal(b.out.Bytes(), &res); err != nil {
		b.t.Fatalf("browser driver answered %q: %v", b.out.Text(), err)
	}
	return res
}

// artifactDir is where screenshots of the browser tests are kept ($DESKPORT_ARTIFACTS, or
// test-artifacts/ at the top of the repository).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("DESKPORT_ARTIFACTS")
	if dir == "" {
		dir, _ = filepath.Abs("../../test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
