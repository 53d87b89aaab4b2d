// Package promtest scrapes a Prometheus /metrics endpoint over HTTP and reads series out of
// the exposition, for tests that check what a real server exports.
package promtest

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed scrape.
type Scrape map[string]*dto.MetricFamily

// Get fetches url and parses the text exposition; it fails the test on any error.
func Get(t testing.TB, url string) Scrape {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// find returns the series of family name whose labels include every pair of labels
// ("k", "v", ...), or nil.
func (s Scrape) find(name string, labels ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// Has reports whether the family exists.
func (s Scrape) Has(name string) bool { return s[name] != nil }

// Value is a counter's or gauge's value; it fails the test when the series is absent.
func (s Scrape) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no series %s%v in the scrape (families: %s)", name, labels, s.names())
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// Count is a histogram's sample count; it fails the test when the series is absent.
func (s Scrape) Count(t testing.TB, name string, labels ...string) uint64 {
	t.Helper()
	m := s.find(name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v in the scrape (families: %s)", name, labels, s.names())
	}
	return m.Histogram.GetSampleCount()
}

// Sum is a histogram's sum of samples.
func (s Scrape) Sum(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v in the scrape", name, labels)
	}
	return m.Histogram.GetSampleSum()
}

func (s Scrape) names() string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// Labels lists, for every series of family name, the value of label key: a test that the
// label's values are a fixed set.
func (s Scrape) Labels(name, key string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == key {
				out = append(out, lp.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}
