package mux

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestYamuxPeerAbortIsTeardown: the host closing a session at the end of its drain aborts the
// SCTP association, and the viewer printed yamux's read error at ERROR ("Failed to read
// header: [0x…] abort chunk, with following errors: user initiated abort …") above its own
// "the connection to the host ended". It is the session ending: debug log.
func TestYamuxPeerAbortIsTeardown(t *testing.T) {
	var buf bytes.Buffer
	l := yamuxLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Printf("%s", "[ERR] yamux: Failed to read header: [0x3b1d06e28c08] abort chunk, with following errors: user initiated abort: (User Initiated Abort: )")
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") {
		t.Errorf("a peer's abort logged as %q, want level DEBUG", out)
	}
}
