package rendezvous

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the rendezvous a static, pion-free binary: it relays SDP as text and
// must build with CGO_ENABLED=0.
func TestDependencies(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	cmd := exec.Command(gotool, "list", "-deps", "-f", "{{.ImportPath}} {{.CgoFiles}}", ".", "../signaling")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, cgo, _ := strings.Cut(line, " ")
		for _, bad := range []string{"github.com/pion/", "github.com/go-vgo/robotgo", "github.com/pion/mediadevices"} {
			if strings.HasPrefix(path, bad) {
				t.Errorf("the rendezvous core depends on %s", path)
			}
		}
		if path == "C" || (cgo != "[]" && strings.HasPrefix(path, "github.com/deskport/")) {
			t.Errorf("the rendezvous core uses cgo via %s", path)
		}
	}
}
