package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/deskport/deskport/internal/netlab"
	"github.com/pion/transport/v5/stdnet"
)

// The LAN section measures forwarding where two machines on one Ethernet segment would meet:
// the host, its target and sshd in a network namespace of their own, the viewer, ssh and the
// rendezvous in the bench's namespace, the two joined by a veth pair of the MTU under test. Every
// packet crosses the veth, and deskport picks the packet size it would pick on a LAN (1404 bytes
// at MTU 1500; at 9000, where both ends advertise it and a probe crosses, 8124), instead of
// taking the loopback path two processes on one machine use.
// The pair's /24 is 10.231.N.0 with N from the process ID: the viewer's end of the veth is in
// the bench's own namespace, so two benches on one machine with one subnet would route each
// other's packets into the wrong pair.
var (
	lanSubnet   = fmt.Sprintf("10.231.%d", os.Getpid()%250+1)
	lanHostIP   = lanSubnet + ".1"
	lanViewerIP = lanSubnet + ".2"
)

const lanSSHPort = "2222" // free in a namespace made for the run

// lanRow is one line of the LAN table.
type lanRow struct {
	MTU       int     `json:"link_mtu"`
	Name      string  `json:"name"`
	Streams   int     `json:"streams"`
	MBps      float64 `json:"mb_per_s"`
	CPUPerGiB float64 `json:"cpu_s_per_gib,omitempty"`
	VsTCP     float64 `json:"ratio_vs_raw_tcp"`
	VsSSH     float64 `json:"ratio_vs_ssh_aes128gcm"`
	Packet    int     `json:"sctp_packet_bytes,omitempty"`
	Runs      []float64
}

// lanNet is a network namespace for the host side, joined to ours by a veth pair.
type lanNet struct {
	ns, outer string
}

func newLAN(mtu int) (*lanNet, error) {
	id := os.Getpid() % 100000
	l := &lanNet{ns: fmt.Sprintf("dpbench-%d", id), outer: fmt.Sprintf("dpbv%d", id)}
	inner := fmt.Sprintf("dpbh%d", id)
	m := fmt.Sprint(mtu)
	steps := [][]string{
		{"netns", "add", l.ns},
		{"link", "add", l.outer, "mtu", m, "type", "veth", "peer", "name", inner, "mtu", m},
		{"link", "set", inner, "netns", l.ns},
		{"addr", "add", lanViewerIP + "/24", "dev", l.outer},
		{"link", "set", l.outer, "up"},
		{"-n", l.ns, "addr", "add", lanHostIP + "/24", "dev", inner},
		{"-n", l.ns, "link", "set", inner, "up"},
		{"-n", l.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			l.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l, nil
}

func (l *lanNet) close() {
	exec.Command("ip", "link", "del", l.outer).Run()
	exec.Command("ip", "netns", "del", l.ns).Run()
}

// in returns the arguments that run name with args inside the namespace.
func (l *lanNet) in(name string, args ...string) []string {
	return append([]string{"netns", "exec", l.ns, name}, args...)
}

// lanUnavailable says why the LAN section cannot run here, or "".
func lanUnavailable() string {
	if os.Geteuid() != 0 {
		return "lan: skipped, it needs root to create network namespaces (run make bench as root)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "lan: skipped, no `ip` command (install iproute2)"
	}
	return ""
}

func runLAN(ctx context.Context, cfg config, work string) ([]lanRow, error) {
	total := cfg.mib << 20
	var rows []lanRow
	for _, mtu := range cfg.lanMTUs {
		r, err := runLANOnce(ctx, cfg, work, mtu, total)
		if err != nil {
			return nil, fmt.Errorf("MTU %d: %w", mtu, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func runLANOnce(ctx context.Context, cfg config, work string, mtu int, total int64) ([]lanRow, error) {
	fmt.Fprintf(os.Stderr, "LAN: veth MTU %d between two network namespaces\n", mtu)
	l, err := newLAN(mtu)
	if err != nil {
		return nil, err
	}
	defer l.close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	src, err := startProc(ctx, "ip", l.in(self, "-serve-source", "0.0.0.0:0")...)
	if err != nil {
		return nil, err
	}
	defer src.stop()
	m, err := src.waitFor(`^source (\S+)$`, 20*time.Second)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(m[1])
	target := "127.0.0.1:" + port // as the host (and sshd) see it, inside the namespace

	var rows []lanRow
	measure := func(name, addr string, streams int, pids func() []int, packet int) error {
		var speeds, cpus []float64
		for i := 0; i < cfg.rounds; i++ {
			before := cpuSeconds(pids())
			mbps, err := pull(ctx, addr, total, streams)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			speeds = append(speeds, mbps)
			cpus = append(cpus, (cpuSeconds(pids())-before)/(float64(total)/(1<<30)))
		}
		rows = append(rows, lanRow{MTU: mtu, Name: name, Streams: streams, MBps: median(speeds), CPUPerGiB: median(cpus), Packet: packet, Runs: speeds})
		fmt.Fprintf(os.Stderr, "  %-28s %d stream(s): %8.1f MB/s, %.2f CPU s/GiB (runs %s)\n", name, streams, median(speeds), median(cpus), runList(speeds))
		return nil
	}
	none := func() []int { return nil }
	if cfg.lanCopyOnly {
		return lanCopyRows(ctx, cfg, l, work, target, mtu, total)
	}
	for _, n := range []int{1, cfg.streams} {
		if err := measure("raw TCP", net.JoinHostPort(lanHostIP, port), n, none, 0); err != nil {
			return nil, err
		}
	}
	for _, cipher := range []string{"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"} {
		fwd, pids, stop, err := lanSSH(ctx, l, work, target, cipher)
		if err != nil {
			return nil, fmt.Errorf("ssh -L: %w", err)
		}
		for _, n := range []int{1, cfg.streams} {
			if err := measure("ssh -L ("+strings.Split(cipher, "@")[0]+")", fwd, n, pids, 0); err != nil {
				stop()
				return nil, err
			}
		}
		stop()
	}
	root, err := os.MkdirTemp(work, "lanfiles")
	if err != nil {
		return nil, err
	}
	// deskport as a viewer runs it (forwards take the direct TCP lane on this direct path),
	// then with --no-direct-tcp (everything over the peer connection: SCTP over DTLS).
	dp, peers, _, lane, err := lanDeskport(ctx, cfg.bin, l, work, target, root)
	if err != nil {
		return nil, fmt.Errorf("deskport: %w", err)
	}
	name := "deskport -L"
	if !lane {
		name += " (no direct TCP lane)"
		fmt.Fprintln(os.Stderr, "  deskport: the direct TCP lane did not come up; see the viewer's log")
	}
	for _, n := range []int{1, cfg.streams} {
		if err := measure(name, dp.forward, n, dp.pids, 0); err != nil {
			dp.stop()
			return nil, err
		}
	}
	if err := lanCopy(ctx, cfg, l, work, root, peers, mtu, total, &rows); err != nil {
		dp.stop()
		return nil, fmt.Errorf("file copy: %w", err)
	}
	dp.stop()
	dp, _, packet, _, err := lanDeskport(ctx, cfg.bin, l, work, target, root, "--no-direct-tcp")
	if err != nil {
		return nil, fmt.Errorf("deskport --no-direct-tcp: %w", err)
	}
	defer dp.stop()
	for _, n := range []int{1, cfg.streams} {
		if err := measure("deskport -L --no-direct-tcp", dp.forward, n, dp.pids, packet); err != nil {
			return nil, err
		}
	}
	if err := lanPion(ctx, cfg, l, mtu, total, &rows); err != nil {
		return nil, fmt.Errorf("bare pion: %w", err)
	}
	for i := range rows {
		r := &rows[i]
		for _, b := range rows {
			if b.Streams != r.Streams {
				continue
			}
			if b.Name == "raw TCP" && b.MBps > 0 {
				r.VsTCP = r.MBps / b.MBps
			}
			if b.Name == "ssh -L (aes128-gcm)" && b.MBps > 0 && !r.copy() {
				r.VsSSH = r.MBps / b.MBps
			}
			if b.Name == "scp (aes128-gcm)" && b.MBps > 0 && r.copy() {
				r.VsSSH = r.MBps / b.MBps
			}
		}
	}
	return rows, nil
}

// lanCopyRows is the LAN section with -lan-copy-only: `viewer cp` on the direct TCP lane and
// scp, nothing else (the copy's own path, measured without the other rows' minutes).
func lanCopyRows(ctx context.Context, cfg config, l *lanNet, work, target string, mtu int, total int64) ([]lanRow, error) {
	root, err := os.MkdirTemp(work, "lanfiles")
	if err != nil {
		return nil, err
	}
	dp, peers, _, lane, err := lanDeskport(ctx, cfg.bin, l, work, target, root)
	if err != nil {
		return nil, fmt.Errorf("deskport: %w", err)
	}
	defer dp.stop()
	if !lane {
		fmt.Fprintln(os.Stderr, "  deskport: the direct TCP lane did not come up; see the viewer's log")
	}
	var rows []lanRow
	if err := lanCopy(ctx, cfg, l, work, root, peers, mtu, total, &rows); err != nil {
		return nil, fmt.Errorf("file copy: %w", err)
	}
	for i := range rows {
		for _, b := range rows {
			if b.Name == "scp (aes128-gcm)" && b.MBps > 0 {
				rows[i].VsSSH = rows[i].MBps / b.MBps
			}
		}
	}
	return rows, nil
}

// lanSSH runs sshd as a daemon inside the namespace and `ssh -N -L` outside it.
func lanSSH(ctx context.Context, l *lanNet, work, target, cipher string) (string, func() []int, func(), error) {
	dir, err := os.MkdirTemp(work, "lanssh")
	if err != nil {
		return "", nil, nil, err
	}
	cfgFile, err := writeSSHDConfig(dir)
	if err != nil {
		return "", nil, nil, err
	}
	sshd := exec.CommandContext(ctx, "ip", l.in("/usr/sbin/sshd", "-D", "-e", "-f", cfgFile,
		"-o", "ListenAddress="+lanHostIP+":"+lanSSHPort)...)
	if err := sshd.Start(); err != nil {
		return "", nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		sshd.Process.Kill()
		sshd.Wait()
		return "", nil, nil, err
	}
	fwd := fmt.Sprintf("127.0.0.1:%d", port)
	me, _ := user.Current()
	ssh := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-N", "-p", lanSSHPort, "-i", filepath.Join(dir, "user_key"),
		"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "Ciphers="+cipher, "-o", "ExitOnForwardFailure=yes",
		"-o", "ConnectionAttempts=20", "-L", fwd+":"+target, me.Username+"@"+lanHostIP)
	if err := ssh.Start(); err != nil {
		sshd.Process.Kill()
		sshd.Wait()
		return "", nil, nil, err
	}
	stop := func() {
		ssh.Process.Kill()
		ssh.Wait()
		sshd.Process.Kill()
		sshd.Wait()
	}
	if err := waitDial(fwd, 20*time.Second); err != nil {
		stop()
		return "", nil, nil, fmt.Errorf("ssh -L %s: %w", fwd, err)
	}
	// sshd forks a child per connection: counting sshd's descendants counts it.
	pids := func() []int { return []int{ssh.Process.Pid, sshd.Process.Pid} }
	return fwd, pids, stop, nil
}

// lanPeers is what a second viewer needs to reach the LAN section's host.
type lanPeers struct {
	url, id, viewerKey string
	host               *proc
}

// lanDeskport starts the rendezvous (outside), the host (inside, sharing filesRoot) and
// `viewer forward -L` (outside), and returns the SCTP packet size the viewer reports.
func lanDeskport(ctx context.Context, bin string, l *lanNet, work, target, filesRoot string, viewerArgs ...string) (*deskport, lanPeers, int, bool, error) {
	dir, err := os.MkdirTemp(work, "landp")
	if err != nil {
		return nil, lanPeers{}, 0, false, err
	}
	d := &deskport{}
	rv, err := startProc(ctx, filepath.Join(bin, "rendezvous"), "--listen", lanViewerIP+":0")
	if err != nil {
		return nil, lanPeers{}, 0, false, err
	}
	d.procs = append(d.procs, rv)
	m, err := rv.waitFor(`rendezvous listening.*addr=(\S+)`, 20*time.Second)
	if err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	url := "http://" + m[1]
	viewerKey := filepath.Join(dir, "viewer.key")
	line, err := exec.Command(filepath.Join(bin, "viewer"), "id", "--key", viewerKey).Output()
	if err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, fmt.Errorf("viewer id: %w", err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, line, 0o600); err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	host, err := startProc(ctx, "ip", l.in(filepath.Join(bin, "host"), "--rendezvous", url, "--key", filepath.Join(dir, "host.key"),
		"--authorized-viewers", authorized, "--allow", target, "--max-streams", "256", "--files-root", filesRoot)...)
	if err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	d.procs = append(d.procs, host)
	if m, err = host.waitFor(`host ID: (\S+)`, 20*time.Second); err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	id := m[1]
	if _, err := host.waitFor(`registered`, 20*time.Second); err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	v, err := startProc(ctx, filepath.Join(bin, "viewer"), append([]string{"forward", id, "--rendezvous", url, "--key", viewerKey,
		"-L", "127.0.0.1:0:" + target}, viewerArgs...)...)
	if err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	d.procs = append(d.procs, v)
	m, err = v.waitFor(`(\d+)-byte packets([^)]*)`, 60*time.Second)
	if err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	var packet int
	fmt.Sscan(m[1], &packet)
	lane := strings.Contains(m[2], "direct TCP")
	if m, err = v.waitFor(`forwarding (\S+) -> `, 60*time.Second); err != nil {
		d.stop()
		return nil, lanPeers{}, 0, false, err
	}
	d.forward = m[1]
	if !lane && !slices.Contains(viewerArgs, "--no-direct-tcp") {
		// The viewer waits for the lane only 500 ms before it says it is connected; on a busy
		// machine the lane can come up just after, which the host logs.
		if _, err := host.waitFor(`bulk streams take the direct TCP lane`, 5*time.Second); err == nil {
			lane = true
		}
	}
	return d, lanPeers{url: url, id: id, viewerKey: viewerKey, host: host}, packet, lane, nil
}

func waitDial(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveSource runs the byte source on addr (the LAN section starts it inside the host's
// namespace), prints "source ADDR" and serves until ctx ends (an interrupt).
func serveSource(ctx context.Context, addr string) error {
	s, err := newSourceOn(addr)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("source", s.Addr())
	<-ctx.Done()
	return nil
}

// lanPion measures the bare pion data channel across the same veth (pion's defaults, 64 KiB
// messages; see bareDataChannelOn): both peer connections live in this process, the sender's
// sockets in the host's namespace, so every packet crosses the link. CPU is this process's.
func lanPion(ctx context.Context, cfg config, l *lanNet, mtu int, total int64, rows *[]lanRow) error {
	inner, err := netlab.NewNet(l.ns)
	if err != nil {
		return err
	}
	outer, err := stdnet.NewNet()
	if err != nil {
		return err
	}
	var speeds, cpus []float64
	for i := 0; i < cfg.rounds; i++ {
		before := cpuTime().Seconds()
		t, start, err := bareDataChannelOn(ctx, total, inner, outer, []string{lanHostIP, lanViewerIP}, 5*time.Minute)
		if err != nil {
			return err
		}
		if t.bytes < total {
			return fmt.Errorf("delivered %d of %d bytes", t.bytes, total)
		}
		speeds = append(speeds, float64(total)/t.last.Sub(start).Seconds()/1e6)
		cpus = append(cpus, (cpuTime().Seconds()-before)/(float64(total)/(1<<30)))
	}
	*rows = append(*rows, lanRow{MTU: mtu, Name: barePion, Streams: 1, MBps: median(speeds), CPUPerGiB: median(cpus), Runs: speeds})
	fmt.Fprintf(os.Stderr, "  %-28s 1 stream(s): %8.1f MB/s, %.2f CPU s/GiB (runs %s)\n", "bare pion data channel", median(speeds), median(cpus), runList(speeds))
	return nil
}

// copy reports whether a row is a file copy (compared with scp, not ssh -L).
func (r lanRow) copy() bool {
	return strings.HasPrefix(r.Name, "viewer cp") || strings.HasPrefix(r.Name, "scp")
}

// lanCopy copies one file of total bytes from the host's namespace to this one with `viewer cp`
// (a new session each run, so set-up is included, as a user meets it) and with scp from an sshd
// in the namespace (aes128-gcm), into files in work. MB/s is over the command's wall time; CPU
// is both ends' (the command, plus the host or sshd and their children).
func lanCopy(ctx context.Context, cfg config, l *lanNet, work, root string, peers lanPeers, mtu int, total int64, rows *[]lanRow) error {
	blob := filepath.Join(root, "blob.bin")
	if err := writeBlob(blob, total); err != nil {
		return err
	}
	defer os.Remove(blob)
	dir, err := os.MkdirTemp(work, "lanscp")
	if err != nil {
		return err
	}
	cfgFile, err := writeSSHDConfig(dir)
	if err != nil {
		return err
	}
	sshd := exec.CommandContext(ctx, "ip", l.in("/usr/sbin/sshd", "-D", "-e", "-f", cfgFile,
		"-o", "ListenAddress="+lanHostIP+":"+lanSSHPort)...)
	if err := sshd.Start(); err != nil {
		return err
	}
	defer func() { sshd.Process.Kill(); sshd.Wait() }()
	if err := waitDial(net.JoinHostPort(lanHostIP, lanSSHPort), 20*time.Second); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	me, _ := user.Current()
	out := filepath.Join(work, "copy.out")
	defer os.Remove(out)
	commands := []struct {
		name   string
		server int
		args   []string
	}{
		{"viewer cp", peers.host.cmd.Process.Pid, []string{filepath.Join(cfg.bin, "viewer"), "cp", peers.id + ":blob.bin", out,
			"--rendezvous", peers.url, "--key", peers.viewerKey, "--known-hosts", "", "--no-progress", "-q"}},
		{"viewer cp --no-direct-tcp", peers.host.cmd.Process.Pid, []string{filepath.Join(cfg.bin, "viewer"), "cp", peers.id + ":blob.bin", out,
			"--rendezvous", peers.url, "--key", peers.viewerKey, "--known-hosts", "", "--no-progress", "-q", "--no-direct-tcp"}},
		{"scp (aes128-gcm)", sshd.Process.Pid, []string{"scp", "-q", "-F", "/dev/null", "-P", lanSSHPort, "-i", filepath.Join(dir, "user_key"),
			"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-c", "aes128-gcm@openssh.com", me.Username + "@" + lanHostIP + ":" + blob, out}},
	}
	for _, c := range commands {
		if cfg.lanCopyOnly && strings.Contains(c.name, "--no-direct-tcp") {
			continue
		}
		var speeds, cpus []float64
		for i := 0; i < cfg.rounds; i++ {
			os.Remove(out)
			before := cpuSeconds([]int{c.server})
			cmd := exec.CommandContext(ctx, c.args[0], c.args[1:]...)
			begin := time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", c.name, err, b)
			}
			wall := time.Since(begin)
			if st, err := os.Stat(out); err != nil || st.Size() != total {
				return fmt.Errorf("%s: the copy is not %d bytes (%v)", c.name, total, err)
			}
			used := cpuSeconds([]int{c.server}) - before + (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			speeds = append(speeds, float64(total)/wall.Seconds()/1e6)
			cpus = append(cpus, used/(float64(total)/(1<<30)))
		}
		*rows = append(*rows, lanRow{MTU: mtu, Name: c.name, Streams: 1, MBps: median(speeds), CPUPerGiB: median(cpus), Runs: speeds})
		fmt.Fprintf(os.Stderr, "  %-28s 1 file:      %8.1f MB/s, %.2f CPU s/GiB (runs %s)\n", c.name, median(speeds), median(cpus), runList(speeds))
	}
	return nil
}

// writeBlob writes n pseudo-random bytes (incompressible, so no layer gains by compressing).
func writeBlob(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(buf)) {
		for i := 0; i+8 <= len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
