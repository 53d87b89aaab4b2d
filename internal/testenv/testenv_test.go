package testenv

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// recorder stands in for a test so the rule's outcome (skip or fail) can be observed without
// failing the test that checks it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, a ...any) {
	r.skipped = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.failed = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own, as the testing package runs a test, so
// Skipf and Fatalf can end it.
func run(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestLookPathFindsGo(t *testing.T) {
	want, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool runs this test, yet it is not on PATH: %v", err)
	}
	r := run(func(tb testing.TB) {
		if got := LookPath(tb, "go"); got != want {
			t.Errorf("LookPath(go) = %q, want %q", got, want)
		}
	})
	if r.skipped != "" || r.failed != "" {
		t.Fatalf("an installed tool skipped (%q) or failed (%q) the test", r.skipped, r.failed)
	}
}

// TestMissingTool: a missing tool fails the test and says how to install it, or skips it under
// -short.
func TestMissingTool(t *testing.T) {
	r := run(func(tb testing.TB) { LookPath(tb, "deskport-no-such-tool") })
	if testing.Short() {
		if r.skipped == "" || r.failed != "" {
			t.Fatalf("under -short: skipped %q, failed %q; want a skip", r.skipped, r.failed)
		}
		return
	}
	if r.failed == "" || r.skipped != "" {
		t.Fatalf("skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
	if !strings.Contains(r.failed, "deskport-no-such-tool") || !strings.Contains(r.failed, "scripts/install-deps.sh") {
		t.Fatalf("the failure %q does not name the tool and how to install it", r.failed)
	}
}
