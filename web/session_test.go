package web

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPageIgnoresLateDescriptions runs web/test/session-node.mjs: src/session.js applies the
// first answer only; a second answer and an offer (which only a hostile rendezvous sends: the
// host never renegotiates) are ignored, counted and reported, and the session is not failed.
func TestPageIgnoresLateDescriptions(t *testing.T) {
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join("test", "session-node.mjs")).CombinedOutput()
	if err != nil {
		t.Fatalf("session-node.mjs: %v\n%s", err, out)
	}
	var got struct {
		Applied, Sent, Warnings, Failures []string
		Answered, Ignored                 int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := []string{"remote answer"}; !reflect.DeepEqual(got.Applied, want) {
		t.Errorf("applied %v, want only the first answer %v", got.Applied, want)
	}
	if len(got.Sent) != 0 {
		t.Errorf("the page answered the hostile offer: sent %v", got.Sent)
	}
	if got.Ignored != 2 || len(got.Warnings) != 2 || !strings.Contains(got.Warnings[0], "hostile rendezvous") {
		t.Errorf("ignored %d, warnings %q; want 2 reported", got.Ignored, got.Warnings)
	}
	if len(got.Failures) != 0 || got.Answered != 1 {
		t.Errorf("failures %v, answered %d", got.Failures, got.Answered)
	}
}
