package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckBinaries: a section that runs the real binaries, started without them (a fresh
// clone, no `make build`), is refused at once with what to do; in-process sections run anyway.
func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	cfg := config{bin: dir}
	var err error
	if cfg.only, err = parseOnly("forward"); err != nil {
		t.Fatal(err)
	}
	err = checkBinaries(cfg)
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), filepath.Join(dir, "rendezvous")) {
		t.Fatalf("forward without binaries: %v", err)
	}
	if cfg.only, err = parseOnly("streamopen,longpath,keys,capture"); err != nil {
		t.Fatal(err)
	}
	if err := checkBinaries(cfg); err != nil {
		t.Fatalf("in-process sections without binaries: %v", err)
	}
	for _, name := range []string{"host", "viewer", "rendezvous"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.only, err = parseOnly("all"); err != nil {
		t.Fatal(err)
	}
	if err := checkBinaries(cfg); err != nil {
		t.Fatalf("with the binaries: %v", err)
	}
}

// TestPairFirst: in the kill-one-instance case, the hosts that hold sessions on B all register
// on B, whatever -rv-fail-hosts is (with 50, half of the 100 were put on A and counted as
// "sessions on B dropped").
func TestPairFirst(t *testing.T) {
	for _, n := range []int{1, 50, 100, 1000} {
		first := pairFirst(n)
		for i := 0; i < n+100; i++ {
			want := 0
			if i >= n {
				want = 1
			}
			if got := first(i); got != want {
				t.Fatalf("-rv-fail-hosts %d: host %d registers first at URL %d, want %d", n, i, got, want)
			}
		}
	}
}

// TestLANReportWithoutBaseline: -lan-copy-only runs no raw TCP row, so the copies' × raw TCP
// column has nothing to divide by and says "—", not a ratio of 0.000.
func TestLANReportWithoutBaseline(t *testing.T) {
	dir := t.TempDir()
	res := &results{LAN: []lanRow{
		{MTU: 1500, Name: "viewer cp", Streams: 1, MBps: 39.2, CPUPerGiB: 16.8},
		{MTU: 1500, Name: "scp (aes128-gcm)", Streams: 1, MBps: 17.7, CPUPerGiB: 28.1},
	}}
	if err := report(config{out: dir, rounds: 1, mib: 16}, res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(md), "| 0.000 |") {
		t.Fatalf("a ratio of 0.000 without its baseline:\n%s", md)
	}
}

// TestResultsDir: a run of some sections never writes over the committed full table.
func TestResultsDir(t *testing.T) {
	for _, tc := range []struct{ out, only, want string }{
		{"", "all", "bench/results"},
		{"", " all ", "bench/results"},
		{"", "keys", "bench/results/partial"},
		{"", "lan,keys", "bench/results/partial"},
		{"", "desktop", "bench/results/partial"},
		{"/tmp/x", "keys", "/tmp/x"},
		{"/tmp/x", "all", "/tmp/x"},
	} {
		if got := resultsDir(tc.out, tc.only); got != tc.want {
			t.Errorf("resultsDir(%q, %q) = %q, want %q", tc.out, tc.only, got, tc.want)
		}
	}
}
