package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParallelViewersFromOneAddress: eight `viewer stdio` sessions started at once from one
// address (an editor's parallel ssh connections through the README's ProxyCommand, a script
// copying several files) all get through. The host admits two unauthenticated sessions per
// source address at a time and refuses the others' offers at once, and the rendezvous lets one
// address keep only four attempts per host waiting for the host's answer; the viewer then
// tries again after a short wait instead of failing with "the host has too many sessions
// authenticating" or "your address already has 4 connection attempts".
func TestParallelViewersFromOneAddress(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	const n = 8
	var wg sync.WaitGroup
	outs, errs := make([]string, n), make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin("viewer"), "stdio", w.hostID, target.Addr().String(),
				"--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only")
			cmd.Env = append(os.Environ(), "DESKPORT_RENDEZVOUS=", noConfig(t))
			cmd.Stdin = strings.NewReader("GET /nothing HTTP/1.0\r\n\r\n")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = err.Error() + ": " + stderr.String()
			}
			outs[i] = stdout.String() + "\x00" + stderr.String()
		}()
	}
	wg.Wait()
	retried := 0
	for i := range n {
		out, stderr, _ := strings.Cut(outs[i], "\x00")
		if errs[i] != "" {
			t.Errorf("viewer %d failed: %s", i, errs[i])
			continue
		}
		if !strings.HasPrefix(out, "HTTP/1.0 404") {
			t.Errorf("viewer %d got %q through the forward, want the target's 404", i, out)
		}
		if strings.Contains(stderr, "; trying again in ") {
			retried++
		}
	}
	t.Logf("%d of %d viewers were refused at first and tried again", retried, n)
}
