package logflags

import (
	"bytes"
	"strings"
	"testing"
)

func TestJournalDropsTimestamps(t *testing.T) {
	for _, tc := range []struct {
		journal  string
		format   string
		wantTime bool
	}{
		{"", "text", true},
		{"", "json", true},
		{"8:12345", "text", false},
		{"8:12345", "json", false},
	} {
		t.Setenv("JOURNAL_STREAM", tc.journal)
		var buf bytes.Buffer
		f := Flags{Format: tc.format}
		log, err := f.Logger(&buf)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello", "k", "v")
		line := buf.String()
		hasTime := strings.Contains(line, "time=") || strings.Contains(line, `"time":`)
		if hasTime != tc.wantTime {
			t.Errorf("JOURNAL_STREAM=%q %s: %q: time present %v, want %v", tc.journal, tc.format, line, hasTime, tc.wantTime)
		}
		if !strings.Contains(line, "hello") || !strings.Contains(line, "k") {
			t.Errorf("the message or attribute is missing: %q", line)
		}
	}
}
