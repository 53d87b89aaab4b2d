package keylatency

import (
	"context"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
)

// TestMeasure checks that the measurement works end to end in both modes: every key press is
// injected and the saturating forward moves data meanwhile. It asserts nothing about speed.
func TestMeasure(t *testing.T) {
	for _, saturate := range []bool{false, true} {
		r, err := Measure(context.Background(), 20, 5*time.Millisecond, saturate)
		if err != nil {
			t.Fatalf("saturate=%v: %v", saturate, err)
		}
		if len(r.Samples) != 20 {
			t.Fatalf("saturate=%v: %d samples, want 20", saturate, len(r.Samples))
		}
		if saturate && r.BulkBytes == 0 {
			t.Fatal("the saturating forward moved nothing")
		}
		t.Logf("saturate=%v: median %v, p99 %v, bulk %.1f MB/s", saturate, r.Median, r.P99, r.BulkMBps)
	}
}

func BenchmarkKeyLatency(b *testing.B) {
	for _, saturate := range []bool{false, true} {
		name := "idle"
		if saturate {
			name = "saturated"
		}
		b.Run(name, func(b *testing.B) {
			r, err := Measure(context.Background(), 200, 10*time.Millisecond, saturate)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(r.Median.Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
		})
	}
}

// TestMeasureOnVnet runs the measurement over pion's vnet (each end its own net on a router
// with a 10 ms one-way delay), as the bench's vnet rows do: every press is injected, and no
// press arrives sooner than the path's delay.
func TestMeasureOnVnet(t *testing.T) {
	const oneWay = 10 * time.Millisecond
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.97.0.0/24", MinDelay: oneWay, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var nets []*vnet.Net
	for _, ip := range []string{"10.97.0.2", "10.97.0.3"} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	r, err := MeasureOn(context.Background(), Config{Presses: 20, Interval: 5 * time.Millisecond, HostNet: nets[0], ViewerNet: nets[1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Samples) != 20 {
		t.Fatalf("%d samples, want 20", len(r.Samples))
	}
	for _, s := range r.Samples {
		if s < oneWay {
			t.Fatalf("a press arrived in %v over a path with a %v one-way delay", s, oneWay)
		}
	}
	t.Logf("median %v, p99 %v", r.Median, r.P99)
}

func TestMeasureOnRefusesNoPresses(t *testing.T) {
	if _, err := MeasureOn(context.Background(), Config{}); err == nil {
		t.Fatal("no error for zero presses")
	}
}
