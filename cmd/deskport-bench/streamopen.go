package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/deskport/deskport/forward"
)

// openRow is one figure of the streamopen section.
type openRow struct {
	Path     string  `json:"path"`
	Opens    int     `json:"opens"`
	MedianMs float64 `json:"median_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// VsDirect* are this path's median and p99 over the direct loopback connection's.
	VsDirectMedian float64   `json:"ratio_median_vs_direct,omitempty"`
	VsDirectP99    float64   `json:"ratio_p99_vs_direct,omitempty"`
	SamplesMs      []float64 `json:"samples_ms"`
}

// oneByteServer accepts connections on loopback and writes one byte to each, then closes it.
type oneByteServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newOneByteServer() (*oneByteServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &oneByteServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{'x'})
			c.Close()
		}
	}()
	return s, nil
}

func (s *oneByteServer) Addr() string { return s.ln.Addr().String() }
func (s *oneByteServer) Close()       { s.ln.Close(); s.wg.Wait() }

// openToFirstByte connects to addr and times the connect to the first byte read.
func openToFirstByte(ctx context.Context, addr string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return 0, fmt.Errorf("reading the first byte: %w", err)
	}
	return time.Since(start), nil
}

// runStreamOpen times new connections at a viewer's -L listener (forward.Client.ServeLocal,
// through a real session on loopback) to the first byte from the target, against the same
// connections made to the target directly. The two kinds alternate, after 5 warm-up opens each.
func runStreamOpen(ctx context.Context, cfg config) ([]openRow, error) {
	target, err := newOneByteServer()
	if err != nil {
		return nil, err
	}
	defer target.Close()
	viewer, host, err := connectSessions(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	policy, err := forward.NewPolicy([]string{target.Addr()}, nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(sctx, host.Mux)
	}()
	go func() {
		defer wg.Done()
		forward.NewClient(viewer.Mux, nil).ServeLocal(sctx, ln, target.Addr())
	}()
	defer func() { cancel(); ln.Close(); viewer.Close(); host.Close(); wg.Wait() }()

	paths := []struct{ name, addr string }{
		{"direct loopback TCP to the target", target.Addr()},
		{"deskport -L (forward.Client.ServeLocal, session on loopback)", ln.Addr().String()},
	}
	const warm = 5
	samples := make([][]float64, len(paths))
	deadline := time.Now().Add(2 * time.Minute)
	for i := -warm; i < cfg.opens; i++ {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d opens took over 2 minutes", i)
		}
		for k, p := range paths {
			d, err := openToFirstByte(ctx, p.addr)
			if err != nil {
				return nil, fmt.Errorf("%s, open %d: %w", p.name, i, err)
			}
			if i >= 0 {
				samples[k] = append(samples[k], float64(d.Microseconds())/1000)
			}
		}
	}
	var rows []openRow
	for k, p := range paths {
		s := slices.Clone(samples[k])
		slices.Sort(s)
		r := openRow{Path: p.name, Opens: len(s), MedianMs: s[len(s)/2], P99Ms: s[min(len(s)-1, len(s)*99/100)], SamplesMs: samples[k]}
		if k > 0 && rows[0].MedianMs > 0 && rows[0].P99Ms > 0 {
			r.VsDirectMedian = r.MedianMs / rows[0].MedianMs
			r.VsDirectP99 = r.P99Ms / rows[0].P99Ms
		}
		fmt.Fprintf(os.Stderr, "  %-60s median %.3f ms, p99 %.3f ms\n", p.name, r.MedianMs, r.P99Ms)
		rows = append(rows, r)
	}
	rows[0].VsDirectMedian, rows[0].VsDirectP99 = 1, 1
	return rows, nil
}
