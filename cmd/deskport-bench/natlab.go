package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/deskport/deskport/internal/netlab"
)

// natRow is one cell of the NAT lab: where the host and the viewer sit, the path they found and
// the time from starting `viewer forward` to the first forwarded byte.
type natRow struct {
	Host      string    `json:"host"`
	Viewer    string    `json:"viewer"`
	Relayed   bool      `json:"relayed"`
	Path      string    `json:"path"`
	MedianS   float64   `json:"first_byte_s"`
	RunsS     []float64 `json:"runs_s"`
	GoalS     float64   `json:"goal_s"`
	GoalsMeet bool      `json:"goal_met"`
}

// runNATLab runs every cell of internal/netlab (network namespaces, nftables NAT routers, the
// real binaries) cfg.rounds times and reports the median time to the first forwarded byte
// against the goals: 1 s direct, 2 s relayed.
func runNATLab(ctx context.Context, cfg config) ([]natRow, error) {
	bins := netlab.Binaries{
		Rendezvous: filepath.Join(cfg.bin, "rendezvous"),
		Host:       filepath.Join(cfg.bin, "host"),
		Viewer:     filepath.Join(cfg.bin, "viewer"),
	}
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	var rows []natRow
	fmt.Fprintln(os.Stderr, "NAT lab: `viewer forward` start to first forwarded byte, per host × viewer network")
	for _, hk := range netlab.Kinds {
		for _, vk := range netlab.Kinds {
			cell := netlab.Cell{Host: hk, Viewer: vk}
			relay := cell.NeedsRelay()
			r := natRow{Host: hk.String(), Viewer: vk.String(), Relayed: relay, GoalS: 1}
			if relay {
				r.GoalS = 2
			}
			for i := 0; i < cfg.rounds; i++ {
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				res, err := netlab.Run(cctx, bins, cell, relay, payload, func(string, ...any) {})
				cancel()
				if err != nil {
					return nil, fmt.Errorf("%s: %w", cell, err)
				}
				r.RunsS = append(r.RunsS, res.Setup.Seconds())
				r.Path = res.Path
			}
			r.MedianS = median(r.RunsS)
			r.GoalsMeet = r.MedianS <= r.GoalS
			fmt.Fprintf(os.Stderr, "  %-40s %-30s %.2f s (runs %s)\n", cell, r.Path, r.MedianS, runList(r.RunsS))
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// natTable prints the lab as a host × viewer grid.
func natTable(rows []natRow) string {
	var kinds []string
	for _, r := range rows {
		if !slices.Contains(kinds, r.Host) {
			kinds = append(kinds, r.Host)
		}
	}
	s := "| host \\ viewer |"
	sep := "|---|"
	for _, k := range kinds {
		s += " " + k + " |"
		sep += "---|"
	}
	s += "\n" + sep + "\n"
	for _, h := range kinds {
		s += "| " + h + " |"
		for _, v := range kinds {
			for _, r := range rows {
				if r.Host == h && r.Viewer == v {
					mark := ""
					if !r.GoalsMeet {
						mark = " (over goal)"
					}
					s += fmt.Sprintf(" %.2f s, %s%s |", r.MedianS, r.Path, mark)
				}
			}
		}
		s += "\n"
	}
	return s
}
