package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"time"
)

// Uplink is a second way out of a peer's namespace: another NAT router with its own public
// address, on an interface the peer does not route through until Move.
type Uplink struct {
	gw, ip, public string
	oldRouter      string // the namespace of the peer's first router
}

// AddUplink gives a NATted peer a second router of the given kind, on interface natlab-up2 with
// its own LAN, as a laptop with both Wi-Fi and a cable has. The peer keeps using its first
// uplink until Move.
func (l *Lab) AddUplink(ctx context.Context, n *Node, role string, kind Kind) (*Uplink, error) {
	if n.Kind == Public || kind == Public {
		return nil, errors.New("netlab: AddUplink needs a NATted peer and a NAT kind")
	}
	l.mu.Lock()
	l.peers++
	k := l.peers
	l.mu.Unlock()
	u := &Uplink{gw: fmt.Sprintf("10.%d.0.1", k), ip: fmt.Sprintf("10.%d.0.2", k), public: fmt.Sprintf("%s%d", inetPrefix, 10+k),
		oldRouter: l.nsName(role + "-nat")}
	router, err := l.attach(ctx, role+"-nat2", u.public)
	if err != nil {
		return nil, err
	}
	if err := l.veth(ctx, n.NS, "natlab-up2", router, "natlab-lan"); err != nil {
		return nil, err
	}
	if err := l.addr(ctx, router, "natlab-lan", u.gw+"/24"); err != nil {
		return nil, err
	}
	if err := l.addr(ctx, n.NS, "natlab-up2", u.ip+"/24"); err != nil {
		return nil, err
	}
	if err := run(ctx, "ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(natRules(kind))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft in %s: %v: %s", router, err, out)
	}
	return u, nil
}

// Move switches the peer to its second uplink the way an unplugged Wi-Fi does: the first
// interface goes away with its address (and its routes), and the default route goes through
// the second. The peer's address and public address change.
func (l *Lab) Move(ctx context.Context, n *Node, u *Uplink) error {
	if err := l.ip(ctx, n.NS, "link", "del", "natlab-up"); err != nil {
		return err
	}
	if err := l.ip(ctx, n.NS, "route", "replace", "default", "via", u.gw); err != nil {
		return err
	}
	n.IP, n.PublicIP = u.ip, u.public
	return nil
}

// Reroute switches the peer to its second uplink while it keeps its first address, as when the
// first network's upstream dies: the first router loses its internet link and the default
// route goes through the second. Nothing on the peer's machine says the path is gone; only
// silence on it does.
func (l *Lab) Reroute(ctx context.Context, n *Node, u *Uplink) error {
	if err := l.ip(ctx, u.oldRouter, "link", "set", "natlab-up", "down"); err != nil {
		return err
	}
	if err := l.ip(ctx, n.NS, "route", "replace", "default", "via", u.gw); err != nil {
		return err
	}
	n.PublicIP = u.public
	return nil
}

// MoveResult is what one run of the moving-network cell measured.
type MoveResult struct {
	Result
	// Stall is the time from the address change to the first forwarded byte that crossed
	// the new path.
	Stall time.Duration
	// MovedAt is how many bytes had arrived when the address changed.
	MovedAt int
	// NewPath is the path the viewer reported after the move.
	NewPath string
}

// moveRate is how fast the target sends in the moving-network cell: slow enough that buffers
// stay nearly empty, so that a stall in the reader is a stall on the network path.
const (
	moveChunk    = 16 << 10
	moveInterval = 5 * time.Millisecond // 3.2 MB/s
)

// moveCredentialTTL is the relayed moving cell's TURN credential lifetime: the move comes after
// the set-up's credentials expired, so the restart's relay allocations need the fresh ones its
// rendezvous session hands out (a restart with the set-up's never connects).
const moveCredentialTTL = 2 * time.Second

// RunMove runs cell with a viewer that changes networks mid-transfer: the viewer (behind a NAT)
// gets a second uplink (another NAT, of the same kind); once moveAfter bytes have arrived, its
// first interface and address go away and its default route moves to the second. The transfer
// must finish byte-exact over the new path, which the viewer finds by restarting ICE through the
// rendezvous.
//
// With keepAddress the viewer keeps its first interface and address and only its first router
// goes off the internet (Reroute): the viewer can tell only by the silence on its path. With
// relay the set-up's TURN credentials have expired at the move (moveCredentialTTL).
func RunMove(ctx context.Context, bins Binaries, cell Cell, relay, keepAddress bool, payload []byte, moveAfter int, logf func(string, ...any)) (res MoveResult, err error) {
	var lab *Lab
	var viewerNode *Node
	var up *Uplink
	var rvFlags []string
	if relay {
		rvFlags = []string{"--turn-credential-ttl", moveCredentialTTL.String()}
	}
	hooks := cellHooks{
		rvFlags: rvFlags,
		prepare: func(ctx context.Context, l *Lab, _, v *Node) (err error) {
			lab, viewerNode = l, v
			up, err = l.AddUplink(ctx, v, "viewer", v.Kind)
			return err
		},
		write: func(c net.Conn, payload []byte) {
			t := time.NewTicker(moveInterval)
			defer t.Stop()
			for len(payload) > 0 {
				n := min(moveChunk, len(payload))
				if _, err := c.Write(payload[:n]); err != nil {
					return
				}
				payload = payload[n:]
				<-t.C
			}
		},
		read: func(ctx context.Context, c net.Conn, h io.Writer, viewer *proc) (int64, error) {
			// The credentials were minted before the first byte arrived.
			expired := time.Now().Add(moveCredentialTTL + 500*time.Millisecond)
			n, err := io.CopyN(h, c, int64(moveAfter-1))
			if err != nil {
				return n, err
			}
			if relay {
				if wait := time.Until(expired); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return n, ctx.Err()
					}
				}
			}
			res.MovedAt = int(n) + 1
			moved := time.Now()
			move := lab.Move
			if keepAddress {
				move = lab.Reroute
			}
			if err := move(ctx, viewerNode, up); err != nil {
				return n, err
			}
			// The path is dead from the move until the restart: the longest pause in the bytes
			// after the move ends with the first byte over the new path. (What was in flight
			// at the move drains from local buffers in milliseconds, at 3.2 MB/s.)
			buf := make([]byte, 64<<10)
			last, longest := moved, time.Duration(0)
			for {
				k, err := c.Read(buf)
				now := time.Now()
				if k > 0 {
					h.Write(buf[:k])
					n += int64(k)
					if gap := now.Sub(last); gap > longest {
						longest, res.Stall = gap, now.Sub(moved)
					}
					last = now
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return n, err
				}
			}
			m, err := viewer.waitFor(ctx, `moved to a new path after \S+ \(path ([^,]+),`)
			if err != nil {
				return n, err
			}
			res.NewPath = m[1]
			return n, nil
		},
	}
	r, err := runCell(ctx, bins, cell, relay, payload, logf, hooks)
	res.Result = r
	return res, err
}
