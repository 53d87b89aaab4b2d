package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// binSections are the sections that run the real host, viewer and rendezvous binaries from
// -bin; the others (keys, longpath, streamopen, capture) run in this process.
var binSections = []string{"forward", "lan", "natlab", "rendezvous", "stream", "viewers", "firstframe", "latency", "wayland"}

// checkBinaries fails at once, saying how to build them, when a section of this run needs the
// binaries in cfg.bin and one is missing: from a fresh clone, `go run ./cmd/deskport-bench`
// without `make build` would otherwise run the section's baselines first and then stop on a
// bare "fork/exec bin/rendezvous: no such file or directory".
func checkBinaries(cfg config) error {
	var need []string
	for _, s := range binSections {
		if cfg.only[s] {
			need = append(need, s)
		}
	}
	if len(need) == 0 {
		return nil
	}
	var missing []string
	for _, name := range []string{"host", "viewer", "rendezvous"} {
		if fi, err := os.Stat(filepath.Join(cfg.bin, name)); err != nil || fi.IsDir() {
			missing = append(missing, filepath.Join(cfg.bin, name))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the %s section(s) run the real binaries, and these are missing: %s; run `make build` first (it builds them into bin/), or give -bin DIR with host, viewer and rendezvous built from this tree (`make bench` does the build itself)",
		strings.Join(need, ", "), strings.Join(missing, ", "))
}
