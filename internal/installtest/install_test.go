// Package installtest checks that deskport installs and imports the way another Go user gets it:
// through a module proxy, by version, with no replace directive in effect.
package installtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modPath = "github.com/deskport/deskport"

// TestGoInstallFromProxy publishes the committed HEAD to a file:// module proxy under a
// pseudo-version, then runs `go install …/cmd/host@V` and `…/cmd/viewer@V` outside any module
// and builds a fresh module that imports the session package. Any replace directive in go.mod
// makes `go install pkg@version` refuse, which is what this guards.
func TestGoInstallFromProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binaries from a module proxy (about a minute)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rev := strings.TrimSpace(run(t, root, nil, "git", "rev-parse", "HEAD"))
	when := strings.TrimSpace(run(t, root, nil, "git", "show", "-s", "--format=%cd", "--date=format-local:%Y%m%d%H%M%S", "HEAD"))
	version := module.PseudoVersion("v0", "", mustTime(t, when), rev[:12])

	proxy := t.TempDir()
	dir := filepath.Join(proxy, modPath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	// What is committed, as `git archive` gives it (a worktree or a clean clone alike).
	tree := t.TempDir()
	archive := filepath.Join(t.TempDir(), "head.tar")
	run(t, root, nil, "git", "archive", "--format=tar", "-o", archive, rev)
	run(t, tree, nil, "tar", "-xf", archive)
	if err := modzip.CreateFromDir(zf, module.Version{Path: modPath, Version: version}, tree); err != nil {
		t.Fatalf("zip the module at HEAD: %v", err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod := run(t, root, nil, "git", "show", "HEAD:go.mod")
	write(t, filepath.Join(dir, version+".mod"), gomod)
	write(t, filepath.Join(dir, version+".info"), fmt.Sprintf(`{"Version":%q,"Time":%q}`, version, mustTime(t, when).Format(time.RFC3339)))
	write(t, filepath.Join(dir, "list"), version+"\n")

	upstream := strings.TrimSpace(run(t, root, nil, "go", "env", "GOPROXY"))
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy) + "," + upstream,
		"GONOSUMDB=" + modPath, "GONOSUMCHECK=1", "GOFLAGS=-mod=mod",
		"GOBIN=" + t.TempDir(), "GOWORK=off",
	}
	outside := t.TempDir()
	for _, cmd := range []string{"host", "viewer", "rendezvous"} {
		run(t, outside, env, "go", "install", modPath+"/cmd/"+cmd+"@"+version)
	}

	consumer := t.TempDir()
	write(t, filepath.Join(consumer, "go.mod"), "module example.com/consumer\n\ngo 1.26\n")
	write(t, filepath.Join(consumer, "main.go"), `package main

import (
	"fmt"

	"github.com/deskport/deskport/session"
)

func main() { fmt.Println(session.ErrPeerLeft != nil) }
`)
	run(t, consumer, env, "go", "get", modPath+"@"+version)
	run(t, consumer, env, "go", "build", "./...")
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("20060102150405", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}
