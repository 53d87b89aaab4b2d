package e2e

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBrowserRetriesBusy: the browser page, refused because too many connection attempts are
// waiting for the host's answer, says so and tries again as the native viewer does; Disconnect
// stops the retries; Connect starts them again, and once the host answers the page
// authenticates with the one-time code the refusals did not use up.
//
// The busy state: the host is stopped (SIGSTOP), so the rendezvous keeps every offer waiting;
// native viewers from 127.0.0.1 fill the rendezvous's four waiting attempts per address (a
// fifth one says it is trying again), and the browser, from the same address, is refused.
func TestBrowserRetriesBusy(t *testing.T) {
	w := newWorld(t)
	h := w.startHost(t, "--code", "--grant", "view")
	code := h.waitFor(`one-time code: (\S+)`, 10*time.Second)[1]
	b := startBrowser(t)

	h.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	resume := func() {
		if stopped {
			h.cmd.Process.Signal(syscall.SIGCONT)
			stopped = false
		}
	}
	t.Cleanup(resume)
	var natives []*proc
	for range 5 {
		natives = append(natives, start(t, "viewer", "stdio", w.hostID, "127.0.0.1:9", "--rendezvous", w.rvURL,
			"--key", w.viewerKey, "--ice-loopback-only"))
	}
	full := regexp.MustCompile(`too many connection attempts are waiting for the host's answer; trying again in`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		found := false
		for _, p := range natives {
			found = found || full.MatchString(p.output())
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no native viewer was refused for too many waiting attempts; the first says:\n%s", natives[0].output())
		}
	}

	b.do("open", w.rvURL+"/#"+w.hostID, code)
	retrying := func() map[string]any {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st := b.do("state")["state"].(map[string]any)
			if n, _ := st["retries"].(float64); n >= 1 && st["state"] == "connecting" {
				return st
			}
			if st["state"] == "failed" || time.Now().After(deadline) {
				t.Fatalf("the page did not try again after the rendezvous refused it: %v\nconsole: %v", st, b.do("logs")["logs"])
			}
		}
	}
	st := retrying()
	status := b.do("text", "#status")["text"].(string)
	if !strings.Contains(status, "too many connection attempts are waiting for the host's answer; trying again in") || !strings.Contains(status, "(attempt ") {
		t.Errorf("while retrying the page shows %q; want why and when it tries again", status)
	}
	t.Logf("page state while retrying: %v %q", st["retry"], status)

	// Disconnect stops the retries for good: no attempt starts after the longest wait (4.5 s).
	b.do("button", "disconnect")
	st = b.do("state")["state"].(map[string]any)
	before := st["retries"]
	if st["state"] != "closed" {
		t.Fatalf("after Disconnect the page is %v, want closed", st["state"])
	}
	time.Sleep(5 * time.Second)
	st = b.do("state")["state"].(map[string]any)
	if st["state"] != "closed" || st["retries"] != before {
		t.Fatalf("after Disconnect the page went on: state %v, %v retries (had %v)", st["state"], st["retries"], before)
	}

	// Connect again: refused again, then the host comes back and the code still works.
	b.do("button", "connect")
	retrying()
	resume()
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st = b.do("state")["state"].(map[string]any)
		if st["state"] == "verified" {
			break
		}
		if st["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("once the host answered, the page did not get in: %v", st)
		}
	}
	if st["method"] != "code" {
		t.Errorf("the page got in by %v, want the one-time code", st["method"])
	}
	t.Logf("the page tried again %v times before getting in", st["retries"])
	for _, p := range natives {
		p.stop()
	}
}
