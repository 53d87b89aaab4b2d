package web

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostBusyReason is the reason of the bye a host's pre-authentication gate sends
// (session/errors.go); session's busy error ends with it.
const hostBusyReason = "the host has too many sessions authenticating; retry in a few seconds"

// TestPageRetriesBusyRefusals runs web/test/busy-node.mjs: the page tries again, as the native
// viewer does, when the host refuses an offer because too many sessions are authenticating or
// the rendezvous refuses one because too many wait for the host's answer; about 20 s of
// jittered, doubling waits at most, never after another error, never after cancel().
func TestPageRetriesBusyRefusals(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "session", "errors.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `busyReason = "`+hostBusyReason+`"`) {
		t.Fatalf("the host's busy bye (session/errors.go, busyReason) is no longer %q: update src/busy.js and this test", hostBusyReason)
	}
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, _ := json.Marshal(map[string]string{"hostBusyReason": hostBusyReason})
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "busy-node.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busy-node.mjs: %v\n%s", err, out)
	}
	var got struct {
		Reasons    map[string]string
		Low, High  []int
		AlwaysBusy struct {
			Runs  int
			Steps []struct {
				Reason          string
				Attempt, WaitMs int
			}
			Pending int
		}
		NotBusy, AfterCancel               any
		WaitingBefore, WaitingAfter        bool
		PendingAfterCancel, RanAfterCancel int
		Scheduled                          bool
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, want := range map[string]string{
		"hostBye":    "the host is busy authenticating other sessions",
		"rendezvous": "too many connection attempts are waiting for the host's answer",
		"otherBye":   "", "badCode": "", "offline": "", "none": "",
	} {
		if got.Reasons[k] != want {
			t.Errorf("busyReason(%s) = %q, want %q", k, got.Reasons[k], want)
		}
	}
	// The native viewer's waits (viewer/viewer.go, busyBackoff): d = 200 ms doubling to 3 s,
	// waiting between d/2 and 3d/2.
	lowSum, highSum := 0, 0
	for i := range got.Low {
		d := min(200<<min(i, 4), 3000)
		if got.Low[i] != d/2 || got.High[i] < 3*d/2-1 || got.High[i] > 3*d/2 {
			t.Errorf("wait before attempt %d: %d..%d ms, want %d..%d", i+2, got.Low[i], got.High[i], d/2, 3*d/2)
		}
		lowSum += got.Low[i]
		highSum += got.High[i]
	}
	if len(got.Low) != 11 || lowSum < 10000 || highSum > 40000 {
		t.Errorf("%d waits of %d..%d ms in all, want 11 of about 20 s", len(got.Low), lowSum, highSum)
	}
	ab := got.AlwaysBusy
	if ab.Runs != 12 || len(ab.Steps) != 11 || ab.Pending != 0 {
		t.Errorf("a host always busy: %d attempts, %d retries, %d timers left; want 12, 11, 0", ab.Runs, len(ab.Steps), ab.Pending)
	}
	for i, s := range ab.Steps {
		if s.Attempt != i+2 || s.Reason == "" {
			t.Errorf("retry %d: %+v", i, s)
		}
	}
	if got.NotBusy != nil || !got.Scheduled || !got.WaitingBefore || got.WaitingAfter || got.PendingAfterCancel != 0 || got.AfterCancel != nil || got.RanAfterCancel != 0 {
		t.Errorf("another error or cancel() did not stop the retries: %s", out)
	}
}

// TestUnknownSessionReasonMatchesHost: the page recognises the host's "no such session" bye to
// a restart by its text (src/restart.js), and says what the native viewer says then.
func TestUnknownSessionReasonMatchesHost(t *testing.T) {
	goSrc, err := os.ReadFile(filepath.Join("..", "session", "errors.go"))
	if err != nil {
		t.Fatal(err)
	}
	jsSrc, err := os.ReadFile(filepath.Join("src", "restart.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ goRe, jsRe string }{
		{`unknownSessionReason = "([^"]+)"`, `UNKNOWN_SESSION_REASON = "([^"]+)"`},
		{`ErrHostRestarted = errors.New\("([^"]+)"\)`, `HOST_RESTARTED = "([^"]+)"`},
	} {
		g := regexp.MustCompile(c.goRe).FindSubmatch(goSrc)
		j := regexp.MustCompile(c.jsRe).FindSubmatch(jsSrc)
		if g == nil || j == nil || string(g[1]) != string(j[1]) {
			t.Errorf("session/errors.go %s and src/restart.js %s differ (or are gone): %q, %q", c.goRe, c.jsRe, g, j)
		}
	}
}
