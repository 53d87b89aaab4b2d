package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/deskport/deskport/internal/keylatency"
	"github.com/deskport/deskport/internal/netlab"
	"github.com/pion/transport/v5"
)

// The keys section: key-press latency (viewer send → host injection) idle and while a forward
// uploads flat out on the same session, on every path the forward figures use — loopback, the
// LAN (a veth pair between the bench's namespace and one for the host, as the lan section sets
// up; needs root) and pion's vnet at 0 and 150 ms RTT. The goal (issue 15) is a p99 under load
// within keyGoal of the same path's idle p99.
const (
	keyPresses  = 200
	keyInterval = 10 * time.Millisecond
	keyGoal     = 10.0 // ms over the idle p99
)

// keyPath is one path of the keys section: nets builds each end's network for a run (nil, nil:
// loopback) and the func it returns tears them down.
type keyPath struct {
	name string
	nets func() (host, viewer transport.Net, stop func(), err error)
}

func keyPaths() (paths []keyPath, skipped []string) {
	paths = append(paths, keyPath{"loopback", func() (transport.Net, transport.Net, func(), error) {
		return nil, nil, func() {}, nil
	}})
	if why := lanUnavailable(); why != "" {
		skipped = append(skipped, "keys: LAN path "+why)
	} else {
		paths = append(paths, keyPath{"LAN (veth, MTU 1500)", func() (transport.Net, transport.Net, func(), error) {
			l, err := newLAN(1500)
			if err != nil {
				return nil, nil, nil, err
			}
			// The host's sockets live in the namespace; the viewer's are the bench's own, whose
			// only way to the host is the veth. (The host's Net is a real namespace's, so both
			// ends size packets as on a LAN: 1404 bytes. Until 2026-12-04 the host took any Net
			// for a simulated one and sent 1191.)
			hn, err := netlab.NewNet(l.ns)
			if err != nil {
				l.close()
				return nil, nil, nil, err
			}
			return hn, nil, l.close, nil
		}})
	}
	for _, rtt := range []time.Duration{0, 150 * time.Millisecond} {
		p := longPath{rtt: rtt}
		paths = append(paths, keyPath{fmt.Sprintf("vnet, %d ms RTT", rtt.Milliseconds()), func() (transport.Net, transport.Net, func(), error) {
			vn, hn, stop, err := newPathNets(p, 1, nil)
			return hn, vn, stop, err
		}})
	}
	return paths, skipped
}

// keysPaths (-keys-paths) limits the keys section to the paths whose name contains one of its
// comma-separated strings; empty: every path.
var keysPaths string

// keyPathChosen reports whether -keys-paths lets the keys section run the path named name.
func keyPathChosen(name string) bool {
	if keysPaths == "" {
		return true
	}
	for _, s := range strings.Split(keysPaths, ",") {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// runKeys measures every path idle and saturated.
func runKeys(ctx context.Context) (rows []keyRow, skipped []string, err error) {
	paths, skipped := keyPaths()
	for _, p := range paths {
		if !keyPathChosen(p.name) {
			continue
		}
		var idle float64
		for _, saturate := range []bool{false, true} {
			hn, vn, stop, err := p.nets()
			if err != nil {
				return nil, skipped, fmt.Errorf("%s: %w", p.name, err)
			}
			r, err := keylatency.MeasureOn(ctx, keylatency.Config{Presses: keyPresses, Interval: keyInterval, Saturate: saturate, HostNet: hn, ViewerNet: vn})
			stop()
			if err != nil {
				return nil, skipped, fmt.Errorf("key latency, %s: %w", p.name, err)
			}
			load := "idle"
			if saturate {
				load = "saturating forward"
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			row := keyRow{Path: p.name, Load: load, Median: ms(r.Median), P99: ms(r.P99), BulkMBps: r.BulkMBps}
			if !saturate {
				idle = row.P99
			} else {
				row.OverIdle = row.P99 - idle
			}
			rows = append(rows, row)
			fmt.Fprintf(os.Stderr, "  key latency %-22s %-20s median %.2f ms, p99 %.2f ms", p.name, load, row.Median, row.P99)
			if saturate {
				fmt.Fprintf(os.Stderr, " (+%.2f ms over idle, forward %.1f MB/s)", row.OverIdle, r.BulkMBps)
			}
			fmt.Fprintf(os.Stderr, "; slowest %s ms\n", slowest(r.Samples, 5))
		}
	}
	return rows, skipped, nil
}

// slowest lists the n longest samples in milliseconds, longest first: the presses a p99 over a
// few hundred samples is made of.
func slowest(samples []time.Duration, n int) string {
	s := slices.Clone(samples)
	slices.Sort(s)
	slices.Reverse(s)
	var out []string
	for _, d := range s[:min(n, len(s))] {
		out = append(out, fmt.Sprintf("%.1f", float64(d.Microseconds())/1000))
	}
	return strings.Join(out, ", ")
}
