// Package testredis runs a real redis-server for tests of the rendezvous cluster: on a free
// loopback port, without persistence, stopped at the end of the test, and restartable on the
// same port to test the recovery from a lost Redis.
package testredis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
)

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	path string
	// Port is the loopback port it listens on; Restart keeps it.
	Port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server on a free loopback port until the test ends. A missing redis-server
// fails the test (or skips it under -short), per package testenv.
func Start(t testing.TB) *Server {
	t.Helper()
	path := testenv.LookPath(t, "redis-server")
	s := &Server{t: t, path: path}
	var err error
	// The port is chosen by listening on :0 and closing; another process may take it in
	// between, so a failed bind is retried on a fresh port.
	for range 5 {
		if s.Port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.run(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// run starts redis-server on s.Port and waits until it accepts connections.
func (s *Server) run() error {
	cmd := exec.Command(s.path, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
		"--unixsocket", "", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		var last []string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent {
				last = append(last, line)
				if strings.Contains(line, "Ready to accept connections") {
					ready <- nil
					sent = true
				}
			}
		}
		if !sent {
			ready <- fmt.Errorf("exited before it was ready:\n%s", strings.Join(last, "\n"))
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	select {
	case err = <-ready:
	case <-time.After(20 * time.Second):
		err = fmt.Errorf("not ready within 20s")
	}
	if err != nil {
		cmd.Process.Kill()
		<-done
		return err
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// Stop kills the server (SIGKILL: a crash, not a clean shutdown) and waits for it. It is
// idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a stopped server again on the same port, empty (it keeps no data).
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.run(); err != nil {
		s.t.Fatalf("redis-server restart on port %d: %v", s.Port, err)
	}
}
