package mux

import (
	"os/exec"
	"strings"
	"testing"
)

// The mux package must stay free of pion and cgo: every feature imports it, and the core builds
// with CGO_ENABLED=0.
func TestNoPionNoCgo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{if .CgoFiles}}cgo{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "github.com/pion/") || strings.Contains(line, "robotgo") || strings.Contains(line, "mediadevices") {
			t.Errorf("mux depends on %s", line)
		}
		if strings.HasSuffix(line, " cgo") && !strings.HasPrefix(line, "runtime/cgo") && !strings.HasPrefix(line, "net ") && !strings.HasPrefix(line, "os/user") {
			t.Errorf("mux links cgo through %s", line)
		}
	}
}
