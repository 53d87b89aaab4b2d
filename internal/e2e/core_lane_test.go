package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDirectTCPLaneOverLinkLocal puts the host and the viewer on one link where the viewer has
// only its IPv6 link-local address and the host a global one, as on an IPv6 LAN where one
// machine has no address from a router yet; each reaches the rendezvous over IPv4 through a
// namespace of its own that does not route between them. The only direct path ICE finds runs
// from the viewer's link-local address, so the direct TCP lane must listen on (and the host
// dial) an address that needs its interface as a zone: before, the viewer's listen failed with
// "bind: invalid argument" and forwards stayed on the peer connection. (The same pair came up
// in about one session in six between two processes on one machine with an IPv6 link-local
// address on its interface, where the README's forward walkthrough runs.)
//
//	host 198.51.100.2 ── [rendezvous] ── 203.0.113.2 viewer
//	host 2001:db8:77::1 ─────(link)───── fe80::… viewer
func TestDirectTCPLaneOverLinkLocal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	for _, tool := range []string{"ip", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	var raw [3]byte
	rand.Read(raw[:])
	sfx := hex.EncodeToString(raw[:])
	rn, hn, vn := "core-ll-r-"+sfx, "core-ll-h-"+sfx, "core-ll-v-"+sfx
	for _, ns := range []string{rn, hn, vn} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// No duplicate address detection: the link-local addresses are usable at once.
		sh(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	}
	link := func(a, aIf, b, bIf string) {
		sh(t, "ip", "link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b)
		sh(t, "ip", "-n", a, "link", "set", aIf, "up")
		sh(t, "ip", "-n", b, "link", "set", bIf, "up")
	}
	link(hn, "llhr"+sfx, rn, "llrh"+sfx)
	link(vn, "llvr"+sfx, rn, "llrv"+sfx)
	link(hn, "llhv"+sfx, vn, "llvh"+sfx)
	sh(t, "ip", "-n", hn, "addr", "add", "198.51.100.2/24", "dev", "llhr"+sfx)
	sh(t, "ip", "-n", rn, "addr", "add", "198.51.100.1/24", "dev", "llrh"+sfx)
	sh(t, "ip", "-n", vn, "addr", "add", "203.0.113.2/24", "dev", "llvr"+sfx)
	sh(t, "ip", "-n", rn, "addr", "add", "203.0.113.1/24", "dev", "llrv"+sfx)
	sh(t, "ip", "-n", hn, "addr", "add", "2001:db8:77::1/64", "dev", "llhv"+sfx, "nodad")
	// The viewer reaches the host's prefix on the link from its link-local address.
	sh(t, "ip", "-n", vn, "-6", "route", "add", "2001:db8:77::/64", "dev", "llvh"+sfx)

	in := func(ns, name string) []string { return []string{"netns", "exec", ns, bin(name)} }
	rvp := start(t, "/usr/sbin/ip", append(in(rn, "rendezvous"), "--listen", "0.0.0.0:8080", "--stun-listen", "off")...)
	rvp.waitFor(`rendezvous listening`, 30*time.Second)

	payload := make([]byte, 4<<20)
	rand.Read(payload)
	ln := listenIn(t, hn, "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	target := ln.Addr().String()

	dir := t.TempDir()
	viewerKey := filepath.Join(dir, "viewer.key")
	vline, err := run(t, "viewer", "id", "--key", viewerKey)
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	os.WriteFile(authorized, []byte(vline), 0o600)
	hostKey := filepath.Join(dir, "host.key")
	hostID, err := run(t, "host", "id", "--key", hostKey)
	if err != nil {
		t.Fatal(err)
	}
	hostID = strings.TrimSpace(hostID)
	hp := start(t, "/usr/sbin/ip", append(in(hn, "host"), "--rendezvous", "http://198.51.100.1:8080", "--key", hostKey,
		"--authorized-viewers", authorized, "--audit-log", "", "--files-root", "", "--no-desktop",
		"--allow", target)...)
	hp.waitFor(`registered`, 30*time.Second)
	vp := start(t, "/usr/sbin/ip", append(in(vn, "viewer"), "forward", hostID, "--rendezvous", "http://203.0.113.1:8080",
		"--key", viewerKey, "--known-hosts", "", "-L", "127.0.0.1:0:"+target)...)
	vp.waitFor(`connected to host .*path host/(?:host|prflx)`, 60*time.Second)
	local := vp.waitFor(`forwarding (\S+) -> `, 30*time.Second)[1]
	// The host logs the lane once it dialled the viewer's link-local address.
	hp.waitFor(`bulk streams take the direct TCP lane.*viewer=\[fe80::`, 15*time.Second)
	if out := vp.output(); strings.Contains(out, "no direct TCP lane") {
		t.Fatalf("the viewer found no lane:\n%s", out)
	}

	got, err := exec.Command("ip", "netns", "exec", vn, "curl", "--silent", "--show-error", "--fail", "--max-time", "60", "http://"+local+"/").Output()
	if err != nil {
		t.Fatalf("curl in the viewer's namespace: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes through the lane, not the %d the host's service sent", len(got), len(payload))
	}
}
