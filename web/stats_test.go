package web

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestStatsPathLine runs web/test/stats-node.mjs: the overlay names the path, and for a relayed
// one the transport to the TURN server, as the native viewer does.
func TestStatsPathLine(t *testing.T) {
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join("test", "stats-node.mjs")).CombinedOutput()
	if err != nil {
		t.Fatalf("stats-node.mjs: %v\n%s", err, out)
	}
}
