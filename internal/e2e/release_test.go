package e2e

import (
	"io"
	"net"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

// TestForwardClientGoneReleasesTarget is issue 16's item 0 with the real binaries: five clients
// of a `viewer forward -L` port each read 64 KiB from a target that is still sending, then
// close. The host must close all five target connections (before the fix all five were still
// open 30 s later, until yamux's 5-minute close timeout), and the forward keeps working.
func TestForwardClientGoneReleasesTarget(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var open atomic.Int64
	ended := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			go func() {
				defer func() { c.Close(); open.Add(-1); ended <- struct{}{} }()
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	w.startHost(t, "--allow", ln.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+ln.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	const clients = 5
	for range clients {
		c, err := net.Dial("tcp", local)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
			t.Fatalf("read 64 KiB through -L: %v", err)
		}
		c.Close()
	}
	timeout := time.After(15 * time.Second)
	for i := range clients {
		select {
		case <-ended:
		case <-timeout:
			t.Fatalf("%d of %d target connections still open on the host 15 s after their clients closed", clients-i, clients)
		}
	}
	if n := open.Load(); n != 0 {
		t.Fatalf("target has %d open connections", n)
	}
	// The forward still serves a new client.
	c, err := net.Dial("tcp", local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatalf("a new client after the five: %v", err)
	}
}

// TestStdioOutputGone: ssh (the reader of `viewer stdio`'s stdout) goes away while the target is
// still sending. The viewer must end, and the host close the target connection, at once.
func TestStdioOutputGone(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ended := make(chan struct{}, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { c.Close(); ended <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	w.startHost(t, "--allow", ln.Addr().String())
	cmd := exec.Command(bin("viewer"), "stdio", w.hostID, ln.Addr().String(), "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only")
	stdin, err := cmd.StdinPipe() // stays open, as ssh's does
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if _, err := io.ReadFull(out, make([]byte, 64<<10)); err != nil {
		t.Fatalf("read 64 KiB from viewer stdio: %v", err)
	}
	out.Close()
	start := time.Now()
	select {
	case <-ended:
		t.Logf("target connection closed %v after stdout", time.Since(start).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the target connection is still open on the host 15 s after the viewer's stdout closed")
	}
	select {
	case err := <-exited:
		t.Logf("viewer stdio exited: %v", err)
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("viewer stdio still running 15 s after its stdout closed")
	}
}
