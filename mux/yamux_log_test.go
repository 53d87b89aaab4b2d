package mux

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestYamuxLogLevels: yamux's prefixes become levels, and the errors of a connection that closed
// under the session — what every finished copy printed at ERROR — go to the debug log.
func TestYamuxLogLevels(t *testing.T) {
	for _, tc := range []struct{ line, level, msg string }{
		{"[ERR] yamux: Failed to write header: use of closed network connection", "DEBUG", "Failed to write header"},
		{"[ERR] yamux: Failed to read header: sending reset packet in non-established state", "DEBUG", "Failed to read header"},
		{"[ERR] yamux: Failed to write header: io: read/write on closed pipe", "DEBUG", "Failed to write header"},
		{"[ERR] yamux: Failed to read header: message too large", "ERROR", "message too large"},
		{"[ERR] yamux: Invalid protocol version: 7", "ERROR", "Invalid protocol version"},
		{"[WARN] yamux: frame for missing stream: 3", "WARN", "frame for missing stream"},
		{"[DEBUG] yamux: something", "DEBUG", "something"},
	} {
		var buf bytes.Buffer
		l := yamuxLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		l.Printf("%s", tc.line)
		out := buf.String()
		if !strings.Contains(out, "level="+tc.level) || !strings.Contains(out, tc.msg) || strings.Contains(out, "yamux: ") {
			t.Errorf("%q logged as %q, want level %s with %q", tc.line, out, tc.level, tc.msg)
		}
	}
}
