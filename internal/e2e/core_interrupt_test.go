package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestViewerInterruptedSaysSo: Ctrl-C while the viewer waits for a rendezvous that accepted
// the connection but does not answer ends it with "interrupted", not with "cannot reach the
// rendezvous … check --rendezvous", which sent the user after a fault that was their Ctrl-C.
func TestViewerInterruptedSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"forward", "abcdefghijklmnopqrstuvwx", "-L", "127.0.0.1:0:127.0.0.1:1"},
		{"cp", filepath.Join(dir, "viewer.key"), "abcdefghijklmnopqrstuvwx:x"},
	} {
		v := start(t, "viewer", append(args, "--rendezvous", "http://"+ln.Addr().String(), "--key", filepath.Join(dir, "viewer.key"))...)
		select {
		case c := <-accepted:
			defer c.Close()
		case <-time.After(30 * time.Second):
			t.Fatalf("viewer %s never reached the rendezvous:\n%s", args[0], v.output())
		}
		v.cmd.Process.Signal(syscall.SIGINT)
		if err := v.wait(30 * time.Second); err == nil {
			t.Errorf("viewer %s exited 0 after an interrupted connect", args[0])
		}
		out := v.output()
		if !strings.Contains(out, "viewer: interrupted") || strings.Contains(out, "check --rendezvous") {
			t.Errorf("viewer %s, interrupted while connecting, said:\n%s", args[0], out)
		}
	}
}
