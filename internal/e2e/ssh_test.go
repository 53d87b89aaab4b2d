package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
)

// serveSSHD accepts TCP connections on loopback and hands each one to a real sshd in inetd mode
// (`sshd -i`), which avoids choosing a free port for a daemon.
func serveSSHD(t *testing.T, dir string) (net.Listener, string) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		testenv.Missing(t, "sshd is not installed (openssh-server): %v", err)
	}
	keygen := func(name string) {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	keygen("ssh_host_key")
	keygen("user_key")
	pub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755) // sshd's privilege-separation directory
	}
	config := strings.Join([]string{
		"HostKey " + filepath.Join(dir, "ssh_host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"LogLevel ERROR",
	}, "\n") + "\n"
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				continue
			}
			cmd := exec.Command(sshd, "-i", "-f", cfgPath)
			cmd.Stdin, cmd.Stdout = f, f
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				f.Close()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); cmd.Wait(); f.Close() }()
		}
	}()
	return ln, filepath.Join(dir, "user_key")
}

func TestSSHProxyCommand(t *testing.T) {
	w := newWorld(t)
	sshDir := t.TempDir()
	ln, userKey := serveSSHD(t, sshDir)
	w.startHost(t, "--allow", ln.Addr().String())
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	proxy := strings.Join([]string{bin("viewer"), "stdio", w.hostID, ln.Addr().String(),
		"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only"}, " ")
	cmd := exec.Command("ssh", "-F", "/dev/null", "-i", userKey, "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "ProxyCommand="+proxy, me.Username+"@deskport-test", "echo deskport-ssh-$((6*7))")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh through viewer stdio: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "deskport-ssh-42") {
		t.Fatalf("ssh printed %q, want the remote command's output deskport-ssh-42", out)
	}
}

// TestStdioHalfClose: when stdin ends, the target sees EOF and its answer still comes back.
func TestStdioHalfClose(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the viewer's stdin ends
		fmt.Fprintf(c, "got %d bytes: %s", len(b), b)
	}()
	w.startHost(t, "--allow", ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("viewer"), "stdio", w.hostID, ln.Addr().String(), "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only")
	cmd.Stdin = strings.NewReader("hello")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("viewer stdio: %v", err)
	}
	if string(out) != "got 5 bytes: hello" {
		t.Fatalf("viewer stdio printed %q, want the target's answer after EOF", out)
	}
}
