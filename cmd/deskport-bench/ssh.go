package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// sshForward starts a real sshd (inetd mode, one process per connection, so no port has to be
// guessed) and `ssh -N -L` through it with the given cipher. It returns the forward's address, a
// function listing the ssh and sshd process IDs (for CPU accounting) and a stop function.
func sshForward(ctx context.Context, work, target, cipher string) (string, func() []int, func(), error) {
	dir, err := os.MkdirTemp(work, "ssh")
	if err != nil {
		return "", nil, nil, err
	}
	cfg, err := writeSSHDConfig(dir)
	if err != nil {
		return "", nil, nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	var mu sync.Mutex
	var pids []int
	var wg sync.WaitGroup
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
			cmd := exec.Command("/usr/sbin/sshd", "-i", "-f", cfg)
			cmd.Stdin, cmd.Stdout = f, f
			if err := cmd.Start(); err != nil {
				f.Close()
				continue
			}
			mu.Lock()
			pids = append(pids, cmd.Process.Pid)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); cmd.Wait(); f.Close() }()
		}
	}()
	port, err := freePort()
	if err != nil {
		ln.Close()
		return "", nil, nil, err
	}
	fwd := fmt.Sprintf("127.0.0.1:%d", port)
	me, _ := user.Current()
	sshPort := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ssh := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-N", "-p", sshPort, "-i", filepath.Join(dir, "user_key"),
		"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "Ciphers="+cipher, "-o", "ExitOnForwardFailure=yes",
		"-L", fwd+":"+target, me.Username+"@127.0.0.1")
	if err := ssh.Start(); err != nil {
		ln.Close()
		return "", nil, nil, err
	}
	stop := func() {
		ssh.Process.Kill()
		ssh.Wait()
		ln.Close()
		mu.Lock()
		for _, p := range pids {
			if pr, err := os.FindProcess(p); err == nil {
				pr.Kill()
			}
		}
		mu.Unlock()
		wg.Wait()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fwd)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, nil, fmt.Errorf("ssh -L %s never came up", fwd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	list := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int{ssh.Process.Pid}, pids...)
	}
	return fwd, list, stop, nil
}

// writeSSHDConfig makes a host key, a user key allowed to log in, and an sshd_config in dir.
func writeSSHDConfig(dir string) (string, error) {
	for _, k := range []string{"host_key", "user_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	cfg := filepath.Join(dir, "sshd_config")
	return cfg, os.WriteFile(cfg, []byte(strings.Join([]string{
		"HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none", "StrictModes no", "UsePAM no", "PasswordAuthentication no",
		"PermitRootLogin prohibit-password", "AllowTcpForwarding yes", "LogLevel ERROR",
		"Subsystem sftp internal-sftp", // scp speaks SFTP since OpenSSH 9.0
	}, "\n")+"\n"), 0o600)
}
