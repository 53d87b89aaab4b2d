package keylatency

import (
	"context"
	"testing"
	"time"
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
