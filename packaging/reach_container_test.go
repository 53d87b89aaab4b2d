package packaging

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContainerfileSources: everything the rendezvous's Containerfile copies from the build
// context (the repository root, as its comment and the README say) exists, so that `podman
// build -f packaging/Containerfile.rendezvous .` does not stop at a COPY. It copied
// third_party/, which became tempfork/ (inside the module, copied with the rest) on 2026-12-04.
// No container engine runs here, so the file is checked rather than built.
func TestContainerfileSources(t *testing.T) {
	f, err := os.Open("Containerfile.rendezvous")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	copies := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "COPY" {
			continue
		}
		var args []string
		from := false
		for _, a := range fields[1:] {
			switch {
			case strings.HasPrefix(a, "--from="):
				from = true
			case strings.HasPrefix(a, "--"):
			default:
				args = append(args, a)
			}
		}
		if from {
			continue // from another stage
		}
		for _, src := range args[:len(args)-1] {
			copies++
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("Containerfile.rendezvous: %s: the build context (the repository root) has no %s", sc.Text(), src)
			}
		}
	}
	if copies == 0 {
		t.Fatal("no COPY from the build context found; update this test")
	}
}
