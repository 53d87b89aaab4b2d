package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/netlab"
	"github.com/deskport/deskport/internal/testca"
)

// TestREADMESupportSessionAcrossNATs is README's support session across two NATs with the
// rendezvous set up as "A rendezvous on the internet" says — one public address, HTTPS (a
// certificate from a private CA instead of --acme, trusted with SSL_CERT_FILE as the README
// says), `--turn --public-ip ADDR` and nothing else: the built-in STUN and TURN on their
// default port 3478, handed out under the name hosts and viewers dialled. The lab's other
// cells hand out a STUN server of the test's and run the relay on a port and address of its
// own; this one uses only what the README's command starts.
//
// The host sits behind a port-preserving NAT, started with `--code --grant view,forward`; the
// viewer behind a symmetric NAT (no direct path: only the relay) runs `viewer forward ID
// --code CODE -L ...`, and 1 MiB crosses byte-exact.
//
// The relay refuses the permissions ICE asks for to each peer's LAN addresses (its host
// candidates), as it must; that is routine, so it is not a warning in the rendezvous's log
// (it was about fifteen warnings a session).
func TestREADMESupportSessionAcrossNATs(t *testing.T) {
	l := newREADMELab(t, netlab.RendezvousIP)
	rv := l.startRendezvous(t, l.lab.Rendezvous().NS, "--public-ip", netlab.RendezvousIP)
	l.session(t)
	if out := rv.output(); strings.Contains(out, "level=WARN") {
		t.Errorf("the rendezvous warned about a routine relayed session:\n%s", out)
	}
}

// readmeLab is a NAT lab for README's support session: a host behind a port-preserving NAT, a
// viewer behind a symmetric one, and the name rv.lab.test for the rendezvous in both.
type readmeLab struct {
	ctx               context.Context
	lab               *netlab.Lab
	hostNode, viewer  *netlab.Node
	dir               string
	certFile, keyFile string
	caFile            string
	spki              string // the certificate's key, for Chromium's trust
}

const readmeName = "rv.lab.test"

// newREADMELab builds the lab; rvIP is the address rv.lab.test resolves to for the peers.
func newREADMELab(t *testing.T, rvIP string) *readmeLab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	lab, err := netlab.New(ctx)
	if err != nil {
		t.Fatalf("building the NAT lab: %v", err)
	}
	t.Cleanup(func() { lab.Close() })
	hostNode, err := lab.AddPeer(ctx, "host", netlab.PortPreserving)
	if err != nil {
		t.Fatal(err)
	}
	viewerNode, err := lab.AddPeer(ctx, "viewer", netlab.Symmetric)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*netlab.Node{hostNode, viewerNode} {
		etc := filepath.Join("/etc/netns", n.NS)
		if err := os.MkdirAll(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(etc) })
		if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n"+rvIP+" "+readmeName+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &readmeLab{ctx: ctx, lab: lab, hostNode: hostNode, viewer: viewerNode, dir: t.TempDir()}
	ca := testca.New(t)
	var leaf *x509.Certificate
	l.certFile, l.keyFile, leaf = ca.WriteFiles(t, l.dir, readmeName)
	l.spki = testca.SPKIHash(leaf)
	l.caFile = filepath.Join(l.dir, "ca.pem")
	if err := os.WriteFile(l.caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

// startRendezvous runs README's rendezvous line in namespace ns: HTTPS on :443 and --turn,
// with the extra flags (--public-ip).
func (l *readmeLab) startRendezvous(t *testing.T, ns string, extra ...string) *proc {
	t.Helper()
	rv := startWith(t, nil, []string{"ip", "netns", "exec", ns}, "rendezvous", append([]string{"--listen", ":443",
		"--tls-cert", l.certFile, "--tls-key", l.keyFile, "--turn"}, extra...)...)
	rv.waitFor(`rendezvous listening`, 30*time.Second)
	return rv
}

// session runs the host with a one-time code and `viewer forward --code` through the
// rendezvous at https://rv.lab.test, and checks 1 MiB byte-exact through the forward. both are
// more flags for both ends.
func (l *readmeLab) session(t *testing.T, both ...string) (path string) {
	t.Helper()
	inNS := func(n *netlab.Node) []string { return []string{"ip", "netns", "exec", n.NS} }
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	var target net.Listener
	if err := l.hostNode.Do(func() (err error) { target, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); c.Write(payload) }()
		}
	}()

	env := []string{"SSL_CERT_FILE=" + l.caFile}
	url := "https://" + readmeName
	host := startWith(t, env, inNS(l.hostNode), "host", append([]string{"--rendezvous", url, "--code", "--grant", "view,forward",
		"--allow", target.Addr().String(), "--no-desktop", "--key", filepath.Join(l.dir, "host.key"),
		"--audit-log", "", "--files-root", ""}, both...)...)
	hostID := host.waitFor(`host ID: (\S+)`, 30*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	viewer := startWith(t, env, inNS(l.viewer), "viewer", append([]string{"forward", hostID, "--code", code,
		"-L", "127.0.0.1:0:" + target.Addr().String(), "--rendezvous", url, "--key", filepath.Join(l.dir, "viewer.key")}, both...)...)
	path = viewer.waitFor(`path ([^,]+),`, 40*time.Second)[1]
	t.Logf("path %s", path)
	local := viewer.waitFor(`forwarding (\S+) -> `, 10*time.Second)[1]
	c, err := l.viewer.Dial(l.ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	if !bytes.Equal(got, payload) {
		a, b := sha256.Sum256(got), sha256.Sum256(payload)
		t.Fatalf("got %d bytes (SHA-256 %x), want %d (%x)", len(got), a, len(payload), b)
	}
	host.waitFor(`viewer connected.*method=code`, 10*time.Second)
	return path
}

// TestREADMESupportSessionCloudVM is the same session with the rendezvous where README puts it:
// a cloud VM, whose interface has a private address (10.99.0.2) and whose public one
// (11.0.0.2) lives on the provider's gateway, a 1:1 NAT (destination-NAT in, source-NAT out,
// and back in for traffic the VM sends to its own public address). `--public-ip` names the
// public address, as README says; the relay binds the wildcard address and hands out the
// public one.
func TestREADMESupportSessionCloudVM(t *testing.T) {
	l := newCloudVMLab(t)
	path := l.session(t)
	if !strings.Contains(path, "relay") {
		t.Errorf("path %s: the symmetric NAT leaves only the relay", path)
	}
}

// newCloudVMLab is README's lab with the rendezvous on a VM behind a cloud provider's 1:1 NAT,
// started with --public-ip.
func newCloudVMLab(t *testing.T) *readmeLab {
	t.Helper()
	const public, private, gw = netlab.RelayIP, "10.99.0.2", "10.99.0.1"
	l := newREADMELab(t, public)
	gwNS := l.lab.Rendezvous().NS // the lab's rendezvous node is the provider's gateway here
	var raw [3]byte
	rand.Read(raw[:])
	vm := "reach-vm-" + hex.EncodeToString(raw[:])
	sh(t, "ip", "netns", "add", vm)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", vm).Run() })
	sh(t, "ip", "-n", vm, "link", "set", "lo", "up")
	sh(t, "ip", "link", "add", "reachvm", "netns", vm, "type", "veth", "peer", "name", "reachgw", "netns", gwNS)
	sh(t, "ip", "-n", vm, "addr", "add", private+"/24", "dev", "reachvm")
	sh(t, "ip", "-n", gwNS, "addr", "add", gw+"/24", "dev", "reachgw")
	sh(t, "ip", "-n", vm, "link", "set", "reachvm", "up")
	sh(t, "ip", "-n", gwNS, "link", "set", "reachgw", "up")
	sh(t, "ip", "-n", vm, "route", "add", "default", "via", gw)
	sh(t, "ip", "netns", "exec", gwNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	rules := `table ip reach-cloud {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr ` + public + ` dnat to ` + private + `
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr ` + private + ` snat to ` + public + `
	}
}`
	c := exec.Command("ip", "netns", "exec", gwNS, "nft", "-f", "-")
	c.Stdin = strings.NewReader(rules)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	rv := l.startRendezvous(t, vm, "--public-ip", public)
	rv.waitFor(`TURN relay ready`, 5*time.Second)
	return l
}

// TestREADMESupportSessionCloudVMRelayOnly: both ends with --relay-only through the cloud VM's
// relay, so that the relay sends to its own public address (relay/relay): the provider's
// gateway turns that around (hairpin), as the big clouds' do.
func TestREADMESupportSessionCloudVMRelayOnly(t *testing.T) {
	l := newCloudVMLab(t)
	if path := l.session(t, "--relay-only"); !strings.HasPrefix(path, "relay/relay") {
		t.Errorf("path %s, want relay/relay", path)
	}
}

// TestREADMEInternetRendezvousCommands runs the two commands of README's "A rendezvous on the
// internet" ("On the machine to reach, and on yours") as written, with rv.example.com the
// lab's rendezvous (README's line, HTTPS with a private CA's certificate for the name), HOSTID
// and CODE what the host printed, and the host's 127.0.0.1:5432 a server in its namespace; the
// host sits behind a port-preserving NAT, the viewer behind a symmetric one. The forward must
// carry the server's bytes.
func TestREADMEInternetRendezvousCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)On the machine to reach, and on yours:\n\n```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no block after \"On the machine to reach, and on yours:\"; update this test")
	}
	var hostArgs, viewerArgs []string
	for _, line := range strings.Split(string(m[1]), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(strings.ReplaceAll(line, "rv.example.com", readmeName))
		switch {
		case len(f) > 1 && f[0] == "host":
			hostArgs = f[1:]
		case len(f) > 1 && f[0] == "viewer":
			viewerArgs = f[1:]
		}
	}
	if hostArgs == nil || viewerArgs == nil {
		t.Fatalf("README's block has no host or viewer command:\n%s", m[1])
	}

	l := newREADMELab(t, netlab.RendezvousIP)
	l.startRendezvous(t, l.lab.Rendezvous().NS, "--public-ip", netlab.RendezvousIP)
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	var target net.Listener
	if err := l.hostNode.Do(func() (err error) { target, err = net.Listen("tcp", "127.0.0.1:5432"); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); c.Write(payload) }()
		}
	}()
	env := []string{"SSL_CERT_FILE=" + l.caFile}
	inNS := func(n *netlab.Node) []string { return []string{"ip", "netns", "exec", n.NS} }
	// What a fresh machine has: its own key, no desktop here, nothing else.
	host := startWith(t, env, inNS(l.hostNode), "host", append(hostArgs, "--no-desktop", "--key", filepath.Join(l.dir, "host.key"),
		"--audit-log", "", "--files-root", "")...)
	hostID := host.waitFor(`host ID: (\S+)`, 30*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)
	for i, a := range viewerArgs {
		viewerArgs[i] = strings.NewReplacer("HOSTID", hostID, "CODE", code).Replace(a)
	}
	viewer := startWith(t, env, inNS(l.viewer), "viewer", append(viewerArgs, "--key", filepath.Join(l.dir, "viewer.key"))...)
	viewer.waitFor(`forwarding (\S+) -> `, 40*time.Second)
	c, err := l.viewer.Dial(l.ctx, "127.0.0.1:5432")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("through README's forward: %d of %d bytes (%v)\nviewer:\n%s\nhost:\n%s", len(got), len(payload), err, viewer.output(), host.output())
	}
}

// TestREADMEBrowserAcrossNATs is README's "Sharing a screen" walkthrough across two NATs: the
// rendezvous started as README's line starts it (HTTPS, --turn --public-ip), `host --rendezvous
// https://rv.example.com --code` sharing a desktop behind a port-preserving NAT, and the other
// person's Chromium, behind a symmetric NAT, opening https://rv.example.com/#HOSTID and typing
// the code: it sees the host's screen, through the relay.
func TestREADMEBrowserAcrossNATs(t *testing.T) {
	l := newREADMELab(t, netlab.RendezvousIP)
	rv := l.startRendezvous(t, l.lab.Rendezvous().NS, "--public-ip", netlab.RendezvousIP)
	d := newDesktopWorld(t)
	host := startWith(t, []string{"SSL_CERT_FILE=" + l.caFile}, []string{"ip", "netns", "exec", l.hostNode.NS}, "host",
		"--rendezvous", "https://"+readmeName, "--code", "--display", d.srv.Display(), "--key", filepath.Join(l.dir, "host.key"),
		"--audit-log", "", "--files-root", "")
	hostID := host.waitFor(`host ID: (\S+)`, 30*time.Second)[1]
	code := host.waitFor(`one-time code: (\S+)`, 30*time.Second)[1]
	host.waitFor(`registered`, 30*time.Second)

	wrapper := filepath.Join(l.dir, "chromium-in-ns")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+l.viewer.NS+" /usr/bin/chromium \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBrowserEnv(t, []string{"CHROMIUM=" + wrapper}, "--ignore-certificate-errors-spki-list="+l.spki)
	b.do("open", "https://"+readmeName+"/#"+hostID, code)
	b.do("wait-verified")
	waitPattern(t, b, 0)
	b.do("wait-text", "stats", "relay")
	host.waitFor(`viewer connected.*method=code.*path="?([a-z]+/relay|relay/[a-z]+)`, 10*time.Second)
	d.pat.Next()
	waitPattern(t, b, 1)
	if out := rv.output(); strings.Contains(out, "level=WARN") {
		t.Errorf("the rendezvous warned about a routine relayed session:\n%s", out)
	}
}
