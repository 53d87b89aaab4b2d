package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runCommand runs deskport-load with args as its command line, with a deadline well short of
// the registration phase's own 5 minutes, and returns its error.
func runCommand(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := NewCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	t.Logf("output: %s", out.String())
	return err
}

// TestCommandSaysWhyHostsCannotRegister: a rendezvous that is not there, or that refuses more
// connections from one address (--spread-loopback off, more hosts than --max-conns-per-ip),
// ends the run at once with what to do, instead of retrying in silence for five minutes.
func TestCommandSaysWhyHostsCannotRegister(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	err = runCommand(t, "--rendezvous", closed, "--hosts", "3", "--duration", "1s")
	if err == nil || !strings.Contains(err.Error(), "nothing listens there") || !strings.Contains(err.Error(), "check --rendezvous") {
		t.Fatalf("against a closed port: %v", err)
	}

	url, _ := startRendezvous(t)
	err = runCommand(t, "--rendezvous", url, "--hosts", "40", "--duration", "1s", "--spread-loopback", "off")
	if err == nil || !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "--max-conns-per-ip") {
		t.Fatalf("40 hosts from one address: %v", err)
	}
}

// TestCommandTakesCommaSeparatedURLs: --rendezvous a,b is two instances, as the host's and the
// viewer's flag read it (it was refused as one malformed URL).
func TestCommandTakesCommaSeparatedURLs(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	needSpread(t)
	a, _ := startRendezvous(t)
	b, _ := startRendezvous(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := NewCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--rendezvous", a + "," + b, "--hosts", "4", "--rate", "10", "--duration", "200ms"})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "4 hosts registered") || !strings.Contains(out.String(), "over 2 rendezvous URL(s)") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestCommandSaysWhyTLSFails: a rendezvous whose certificate the generator does not trust (a
// test instance with a self-signed one) ends the run at once, saying so.
func TestCommandSaysWhyTLSFails(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	err := runCommand(t, "--rendezvous", srv.URL, "--hosts", "3", "--duration", "1s")
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted") {
		t.Fatalf("against a self-signed certificate: %v", err)
	}
}
