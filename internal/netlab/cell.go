package netlab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Binaries are the deskport programs a cell runs (built from ./cmd).
type Binaries struct {
	Rendezvous, Host, Viewer string
}

// HasTURN reports whether the rendezvous has the built-in TURN relay (--turn).
func (b Binaries) HasTURN() bool {
	out, _ := exec.Command(b.Rendezvous, "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--turn"))
}

// Cell is one host × viewer placement.
type Cell struct {
	Host, Viewer Kind
}

func (c Cell) String() string { return "host-" + c.Host.String() + "/viewer-" + c.Viewer.String() }

// NeedsRelay reports whether the two ends cannot meet without a TURN relay: a UDP-blocked end
// has no UDP path at all (and deskport offers no ICE-TCP candidates), and a symmetric NAT's
// fresh port per destination never matches a conntrack entry on a filtering NAT at the other
// end; only a public peer, which filters nothing, lets it in.
func (c Cell) NeedsRelay() bool {
	if c.Host == UDPBlocked || c.Viewer == UDPBlocked {
		return true
	}
	sym := c.Host == Symmetric || c.Viewer == Symmetric
	return sym && c.Host != Public && c.Viewer != Public
}

// Result is what one run of a cell measured.
type Result struct {
	// Setup is the time from starting `viewer forward` to the first forwarded byte.
	Setup time.Duration
	// Path is the ICE path the viewer reported ("srflx/prflx", "relay/host", ...).
	Path string
	// Bytes is how many bytes arrived (all of them, byte-exact, when Run returns no error).
	Bytes int
	// HostOutput and ViewerOutput are what the host and the viewer printed and logged.
	HostOutput, ViewerOutput string
}

// Run builds a lab for cell, starts the rendezvous (with the TURN relay when relay is set), the
// host and `viewer forward -L` in their namespaces, moves payload from a TCP server in the
// host's namespace to the viewer's namespace through the forward, and checks it byte for byte.
// logf receives the programs' output when something fails.
func Run(ctx context.Context, bins Binaries, cell Cell, relay bool, payload []byte, logf func(string, ...any)) (res Result, err error) {
	return runCell(ctx, bins, cell, relay, payload, logf, cellHooks{})
}

// cellHooks change what a cell does; the zero value is Run's.
type cellHooks struct {
	// rvFlags are more flags for the rendezvous.
	rvFlags []string
	// prepare runs once the peers exist, before any program starts in them.
	prepare func(ctx context.Context, lab *Lab, host, viewer *Node) error
	// write sends payload to a connection to the target (default: all at once).
	write func(c net.Conn, payload []byte)
	// read reads the forwarded bytes after the first into h and returns how many it read
	// (default: io.Copy).
	read func(ctx context.Context, c net.Conn, h io.Writer, viewer *proc) (int64, error)
}

func runCell(ctx context.Context, bins Binaries, cell Cell, relay bool, payload []byte, logf func(string, ...any), hooks cellHooks) (res Result, err error) {
	lab, err := New(ctx)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, lab.Close()) }()
	dir, err := os.MkdirTemp("", "natlab-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	var procs []*proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			p.stop()
			switch p.name {
			case "host":
				res.HostOutput = p.output()
			case "viewer":
				res.ViewerOutput = p.output()
			}
			if err != nil && logf != nil {
				logf("%s output:\n%s", p.name, p.output())
			}
		}
	}()
	start := func(n *Node, name, bin string, args ...string) (*proc, error) {
		home := filepath.Join(dir, name)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, err
		}
		cmd := n.Command(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"XDG_RUNTIME_DIR="+home, "DESKPORT_RENDEZVOUS=", "DESKPORT_CONFIG_DIR="+home)
		p, err := startProc(cmd, name)
		if err == nil {
			procs = append(procs, p)
		}
		return p, err
	}

	rvArgs := []string{"--listen", RendezvousIP + ":443", "--stun", lab.STUNURL()}
	if relay {
		// TURN on UDP and TCP 443 of the second address, which the UDP-blocked firewall lets
		// through; the relay's address is that one.
		rvArgs = append(rvArgs, "--turn", "--turn-listen", RelayIP+":443", "--public-ip", RelayIP)
	}
	rvArgs = append(rvArgs, hooks.rvFlags...)
	rv, err := start(lab.Rendezvous(), "rendezvous", bins.Rendezvous, rvArgs...)
	if err != nil {
		return res, err
	}
	if _, err := rv.waitFor(ctx, "rendezvous listening"); err != nil {
		return res, err
	}
	hostNode, err := lab.AddPeer(ctx, "host", cell.Host)
	if err != nil {
		return res, err
	}
	viewerNode, err := lab.AddPeer(ctx, "viewer", cell.Viewer)
	if err != nil {
		return res, err
	}
	if hooks.prepare != nil {
		if err := hooks.prepare(ctx, lab, hostNode, viewerNode); err != nil {
			return res, err
		}
	}
	write := hooks.write
	if write == nil {
		write = func(c net.Conn, payload []byte) { c.Write(payload) }
	}

	target, err := hostNode.Listen("127.0.0.1:0")
	if err != nil {
		return res, err
	}
	var served sync.WaitGroup
	defer func() { target.Close(); served.Wait() }()
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				defer c.Close()
				write(c, payload)
			}()
		}
	}()

	hostKey, viewerKey := filepath.Join(dir, "host.key"), filepath.Join(dir, "viewer.key")
	line, err := exec.CommandContext(ctx, bins.Viewer, "id", "--key", viewerKey).Output()
	if err != nil {
		return res, fmt.Errorf("viewer id: %w", err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(authorized, line, 0o600); err != nil {
		return res, err
	}
	id, err := exec.CommandContext(ctx, bins.Host, "id", "--key", hostKey).Output()
	if err != nil {
		return res, fmt.Errorf("host id: %w", err)
	}
	hostID := strings.TrimSpace(string(id))
	rvURL := "http://" + RendezvousIP + ":443"

	host, err := start(hostNode, "host", bins.Host, "--rendezvous", rvURL, "--key", hostKey,
		"--authorized-viewers", authorized, "--allow", target.Addr().String(), "--no-desktop",
		"--audit-log", "", "--files-root", "")
	if err != nil {
		return res, err
	}
	if _, err := host.waitFor(ctx, "registered with the rendezvous"); err != nil {
		return res, err
	}

	t0 := time.Now()
	viewer, err := start(viewerNode, "viewer", bins.Viewer, "forward", hostID, "--rendezvous", rvURL,
		"--key", viewerKey, "-L", "127.0.0.1:0:"+target.Addr().String())
	if err != nil {
		return res, err
	}
	m, err := viewer.waitFor(ctx, `path ([^,]+),`)
	if err != nil {
		// Let the host report the failed session too before it is stopped.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _ = host.waitFor(wctx, `no network path to the viewer|viewer refused|viewer connected`)
		cancel()
		return res, err
	}
	res.Path = m[1]
	m, err = viewer.waitFor(ctx, `forwarding (\S+) -> `)
	if err != nil {
		return res, err
	}
	c, err := viewerNode.Dial(ctx, m[1])
	if err != nil {
		return res, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		return res, fmt.Errorf("reading the first forwarded byte: %w", err)
	}
	res.Setup = time.Since(t0)
	h := sha256.New()
	h.Write(first)
	read := hooks.read
	if read == nil {
		read = func(_ context.Context, c net.Conn, h io.Writer, _ *proc) (int64, error) { return io.Copy(h, c) }
	}
	n, err := read(ctx, c, h, viewer)
	res.Bytes = int(n) + 1
	if err != nil {
		return res, fmt.Errorf("after %d bytes: %w", res.Bytes, err)
	}
	want := sha256.Sum256(payload)
	if res.Bytes != len(payload) || !bytes.Equal(h.Sum(nil), want[:]) {
		return res, fmt.Errorf("got %d bytes (SHA-256 %x), want %d bytes byte-exact", res.Bytes, h.Sum(nil), len(payload))
	}
	return res, nil
}
