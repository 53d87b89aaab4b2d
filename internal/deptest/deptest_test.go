// Package deptest enforces the dependency rules of docs/architecture.md: the core builds
// without cgo and links neither robotgo nor mediadevices; the stream multiplexer (mux) imports
// no pion and no cgo; and the features open their streams with mux, never through the
// forwarding package.
package deptest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// core are the packages that must build with CGO_ENABLED=0.
var core = []string{
	"github.com/deskport/deskport/identity",
	"github.com/deskport/deskport/auth/...",
	"github.com/deskport/deskport/signaling",
	"github.com/deskport/deskport/rendezvous/...",
	"github.com/deskport/deskport/relay",
	"github.com/deskport/deskport/turncred",
	"github.com/deskport/deskport/mux/...",
	"github.com/deskport/deskport/forward/...",
	"github.com/deskport/deskport/session",
	"github.com/deskport/deskport/input",
	"github.com/deskport/deskport/desktopctl",
	"github.com/deskport/deskport/files",
	"github.com/deskport/deskport/clipboard",
	"github.com/deskport/deskport/audit",
	"github.com/deskport/deskport/knownhosts",
	"github.com/deskport/deskport/web",
	"github.com/deskport/deskport/cmd/rendezvous",
}

func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list with CGO_ENABLED=0: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCoreBuildsWithoutCgo(t *testing.T) {
	cmd := exec.Command("go", append([]string{"build", "-o", os.DevNull}, core...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the core does not build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	for _, p := range deps(t, core...) {
		for _, banned := range []string{"github.com/go-vgo/robotgo", "github.com/pion/mediadevices", "runtime/cgo"} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("the core links %s", p)
			}
		}
	}
}

// TestMuxImportsNoPionNoCgo: the multiplexer every feature builds on stays free of pion (the
// session package supplies the data channel) and of cgo, in its own code and its tests.
func TestMuxImportsNoPionNoCgo(t *testing.T) {
	for _, p := range depsTest(t, "github.com/deskport/deskport/mux/...") {
		if strings.HasPrefix(p.path, "github.com/pion/") || strings.HasPrefix(p.path, "github.com/deskport/deskport/tempfork/webrtc") {
			t.Errorf("mux depends on %s; it must stay free of pion", p.path)
		}
		if p.cgo && strings.HasPrefix(p.path, "github.com/deskport/") {
			t.Errorf("mux links cgo through %s", p.path)
		}
		if strings.HasPrefix(p.path, "github.com/deskport/deskport/forward") {
			t.Errorf("mux depends on %s; forwarding sits on top of the multiplexer, not under it", p.path)
		}
	}
}

// features are the packages that open or serve streams of their own kind. They use the
// multiplexer (mux.Open, mux.Dispatcher); none of them, nor their tests, may reach the
// forwarding package, which is one feature among them (TCP forwards), not the way to open a
// stream. desktopctl is the control stream's message format; the host serves it.
var features = map[string]bool{ // package → whether it must import mux itself
	"github.com/deskport/deskport/clipboard":  true,
	"github.com/deskport/deskport/files":      true,
	"github.com/deskport/deskport/input":      true,
	"github.com/deskport/deskport/desktopctl": false,
}

func TestFeaturesUseMuxNotForward(t *testing.T) {
	for pkg, needsMux := range features {
		imports := false
		for _, p := range depsTest(t, pkg) {
			if strings.HasPrefix(p.path, "github.com/deskport/deskport/forward") {
				t.Errorf("%s depends on %s; features open their streams with mux, not through the forwarding package", pkg, p.path)
			}
			if p.path == "github.com/deskport/deskport/mux" {
				imports = true
			}
		}
		if needsMux && !imports {
			t.Errorf("%s does not import mux; a feature opens and serves its streams with it", pkg)
		}
	}
}

type dep struct {
	path string
	cgo  bool
}

// depsTest lists pkgs' dependencies including those of their tests, with cgo as the host
// builds (CGO_ENABLED as the environment says), and whether each has cgo files.
func depsTest(t *testing.T, pkgs ...string) []dep {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-test", "-f", "{{.ImportPath}} {{if .CgoFiles}}cgo{{end}}"}, pkgs...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps -test %v: %v\n%s", pkgs, err, out)
	}
	var ds []dep
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, cgo, _ := strings.Cut(line, " ")
		ds = append(ds, dep{path: path, cgo: cgo == "cgo"})
	}
	return ds
}

// TestCommandsCrossCompile: the commands build for Windows and macOS without cgo (hosts there
// forward ports and run as a service; the release archives ship them), so a Linux-only call
// in a shared package shows up here rather than at release time.
func TestCommandsCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiles every command twice")
	}
	for _, target := range [][2]string{{"windows", "amd64"}, {"darwin", "arm64"}} {
		cmd := exec.Command("go", "build", "-o", os.DevNull, "github.com/deskport/deskport/cmd/...")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+target[0], "GOARCH="+target[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s GOARCH=%s go build ./cmd/...: %v\n%s", target[0], target[1], err, out)
		}
	}
}
