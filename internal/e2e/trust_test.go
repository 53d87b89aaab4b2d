package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSessionsAndKick: the owner lists the connected viewers and ends one at once.
func TestSessionsAndKick(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	v.waitFor(`forwarding (\S+) -> `, 60*time.Second)
	key := filepath.Join(w.dir, "host.key")
	out, err := run(t, "host", "sessions", "--key", key)
	if err != nil {
		t.Fatalf("host sessions: %v\n%s", err, out)
	}
	if !strings.Contains(out, "SHA256:") || !strings.Contains(out, "key") || !strings.Contains(out, "forward") {
		t.Fatalf("host sessions printed %q; want the viewer's fingerprint, method and capabilities", out)
	}
	out, err = run(t, "host", "kick", "all", "--key", key)
	if err != nil || !strings.Contains(out, "ended 1 session") {
		t.Fatalf("host kick all: %v\n%s", err, out)
	}
	if err := v.wait(30 * time.Second); err == nil {
		t.Fatal("the kicked viewer exited successfully; want an error saying the connection ended")
	}
	w.host.waitFor(`the host owner ended a session`, 5*time.Second)
	if out, _ := run(t, "host", "sessions", "--key", key); !strings.Contains(out, "no viewers connected") {
		t.Fatalf("after the kick, host sessions printed %q", out)
	}
}

// TestPolicyRefusedAtStart: a host refuses to start with an authorized_viewers it cannot
// enforce, and --check-config says why and exits non-zero.
func TestPolicyRefusedAtStart(t *testing.T) {
	w := newWorld(t)
	line, _ := os.ReadFile(w.authorized)
	bad := filepath.Join(w.dir, "bad_authorized")
	os.WriteFile(bad, []byte("no-such-option "+string(line)), 0o600)
	key := filepath.Join(w.dir, "host.key")
	out, err := run(t, "host", "--rendezvous", w.rvURL, "--key", key, "--authorized-viewers", bad)
	if err == nil {
		t.Fatalf("the host started with an unknown option in authorized_viewers:\n%s", out)
	}
	if !strings.Contains(out, "line 1") || !strings.Contains(out, "no-such-option") {
		t.Errorf("the refusal %q should name the line and the option", out)
	}
	out, err = run(t, "host", "--check-config", "--rendezvous", w.rvURL, "--key", key, "--authorized-viewers", w.authorized, "--allow", "127.0.0.1:22")
	if err != nil || !strings.Contains(out, "SHA256:") || !strings.Contains(out, "127.0.0.1:22") || !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Fatalf("--check-config on a good policy: %v\n%s", err, out)
	}
	out, err = run(t, "host", "--check-config", "--rendezvous", w.rvURL, "--key", key, "--authorized-viewers", filepath.Join(w.dir, "missing"))
	if err == nil || !strings.Contains(out, "no viewer can connect") {
		t.Fatalf("--check-config with no way in: err %v\n%s", err, out)
	}
}

// TestKnownHosts: the viewer pins the host key on first use and refuses loudly when the pinned
// key differs.
func TestKnownHosts(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	known := filepath.Join(w.dir, "known_hosts")
	args := []string{"forward", w.hostID, "--rendezvous", w.rvURL, "--key", w.viewerKey, "--ice-loopback-only",
		"--known-hosts", known, "-L", "127.0.0.1:0:" + target.Addr().String()}
	v := start(t, "viewer", args...)
	v.waitFor(`added host `+w.hostID, 60*time.Second)
	v.waitFor(`forwarding`, 30*time.Second)
	v.stop()
	data, err := os.ReadFile(known)
	if err != nil || !strings.HasPrefix(string(data), w.hostID+" ssh-ed25519 ") {
		t.Fatalf("known_hosts holds %q (%v)", data, err)
	}
	// Pin another key under the same ID: the viewer must refuse and say what to do.
	line, _ := run(t, "viewer", "id", "--key", filepath.Join(w.dir, "other.key"))
	fields := strings.Fields(line)
	os.WriteFile(known, []byte(w.hostID+" "+fields[0]+" "+fields[1]+"\n"), 0o600)
	v2 := start(t, "viewer", args...)
	if err := v2.wait(60 * time.Second); err == nil {
		t.Fatal("the viewer connected although the pinned host key differs")
	}
	v2.waitFor(`(?i)changed|differs|does not match`, time.Second)
}

// TestRendezvousRestart: an established session does not need the rendezvous; when it comes
// back, the host registers again by itself and new viewers get in.
func TestRendezvousRestart(t *testing.T) {
	w := newWorld(t)
	target := serveBlob(t)
	w.startHost(t, "--allow", target.Addr().String())
	v := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	local := v.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]

	w.rv.stop()
	if got := curlSum(t, "http://"+local+"/blob"); got != blobSum {
		t.Fatalf("with the rendezvous gone, the forward moved different bytes")
	}
	// The same address again: the host's reconnect loop finds it.
	addr := strings.TrimPrefix(w.rvURL, "http://")
	w.rv = start(t, "rendezvous", "--listen", addr, "--stun-listen", "127.0.0.1:0")
	w.rv.waitFor(`listening`, 30*time.Second)
	w.rv.waitFor(`host online`, 60*time.Second)
	v2 := w.forward(t, w.viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	local2 := v2.waitFor(`forwarding (\S+) -> `, 60*time.Second)[1]
	if got := curlSum(t, "http://"+local2+"/blob"); got != blobSum {
		t.Fatalf("after the restart, a new forward moved different bytes")
	}
}
