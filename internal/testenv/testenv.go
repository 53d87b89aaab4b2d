// Package testenv holds the one rule for tests that need a tool from outside Go (Xvfb, xdotool,
// xclip, xterm, sshd, Chromium, Node.js and the npm packages): `make test` installs every one of
// them first (scripts/install-deps.sh, `make node-deps`), so a test whose tool is missing fails
// and says how to install it; a silent skip would let a fresh machine pass without testing
// anything. Under `go test -short` a test that needs a missing tool skips instead, so the short
// suite runs on a machine that has only Go.
package testenv

import (
	"fmt"
	"os/exec"
	"testing"
)

// installHint is what every missing-tool failure tells the reader to do.
const installHint = "run scripts/install-deps.sh and `make node-deps` (make test does both), or pass -short to skip the tests that need it"

// Missing applies the rule to a tool the test found missing: it skips the test under -short
// and fails it otherwise. what says what is missing and why the test needs it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	what := fmt.Sprintf(format, args...)
	if testing.Short() {
		tb.Skipf("-short: %s", what)
	}
	tb.Fatalf("%s: %s", what, installHint)
}

// LookPath returns the path of the named executable, or applies Missing when it is not on
// PATH.
func LookPath(tb testing.TB, file string) string {
	tb.Helper()
	p, err := exec.LookPath(file)
	if err != nil {
		Missing(tb, "%s is not installed", file)
	}
	return p
}
