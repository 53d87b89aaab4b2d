//go:build linux

package procgroup

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWhySaysStderr(t *testing.T) {
	g := &Group{Prefix: "test", Dir: t.TempDir(), Env: os.Environ}
	defer g.Close()
	p, _, err := g.Spawn("sh", []string{"-c", "echo no such display >&2; exit 3"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if why := p.Why(); why != "no such display" {
		t.Fatalf("Why = %q", why)
	}
	q, _, err := g.Spawn("sh", []string{"-c", "exit 4"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if why := q.Why(); !strings.Contains(why, "exit status 4") {
		t.Fatalf("Why of a silent exit = %q", why)
	}
}

// TestCloseStopsTheWholeGroup checks that Close ends a program's children too (its process
// group), in reverse order, and that Start's programs go first.
func TestCloseStopsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	g := &Group{Prefix: "test", Dir: dir, Env: os.Environ}
	// The child writes its pid, then both wait; only a group kill reaches the child.
	p, out, err := g.Spawn("sh", []string{"-c", "sleep 60 & echo $!; wait"}, Options{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("child pid %q: %v", buf[:n], err)
	}
	run := exec.Command("sleep", "60")
	if err := g.Start(run); err != nil {
		t.Fatal(err)
	}
	g.Close()
	g.Close() // idempotent
	select {
	case <-p.Done():
	default:
		t.Fatal("Close returned before the program ended")
	}
	if run.ProcessState == nil {
		t.Fatal("Close left Start's program running")
	}
	// The child is gone once it is reaped by init; signal 0 fails with ESRCH then.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the child %d of a stopped program still runs", child)
		}
		time.Sleep(10 * time.Millisecond) // polling another process's end: there is no event for it
	}
}

func TestStartBus(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	g := &Group{Prefix: "test", Dir: dir, Env: os.Environ}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := g.StartBus(ctx, []string{"--session", "--nofork", "--nopidfile", "--nosyslog",
		"--address=unix:path=" + dir + "/bus", "--print-address=1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "unix:path="+dir+"/bus") {
		t.Fatalf("address %q", addr)
	}
	if _, err := g.StartBus(ctx, []string{"--no-such-option", "--print-address=1"}); err == nil || !strings.Contains(err.Error(), "dbus-daemon did not start") {
		t.Fatalf("a failing bus: %v", err)
	}
}
