// Package deptest enforces the dependency rules of docs/architecture.md: the core builds
// without cgo and links neither robotgo nor mediadevices, and the tunnel imports no pion.
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
	"github.com/deskport/deskport/tunnel/...",
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

func TestTunnelImportsNoPion(t *testing.T) {
	for _, p := range deps(t, "github.com/deskport/deskport/tunnel") {
		if strings.HasPrefix(p, "github.com/pion/") {
			t.Errorf("tunnel depends on %s; it must stay free of pion", p)
		}
	}
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
