package host

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// promptRig is a terminal on pipes: the test types on in and reads what the owner would see.
type promptRig struct {
	t     *testing.T
	term  *terminal
	in    *io.PipeWriter
	out   *bufio.Reader
	idles chan struct{}
}

func newPromptRig(t *testing.T, timeout time.Duration, idle func()) *promptRig {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	r := &promptRig{t: t, term: newTerminal(inR, outW, timeout), in: inW, out: bufio.NewReader(outR), idles: make(chan struct{}, 16)}
	r.term.idle = func() {
		if idle != nil {
			idle()
		}
		r.idles <- struct{}{}
	}
	done := make(chan struct{})
	go func() { r.term.run(); close(done) }()
	t.Cleanup(func() { inW.Close(); <-done; outR.Close() })
	return r
}

func (r *promptRig) typeLine(s string) {
	if _, err := io.WriteString(r.in, s); err != nil {
		r.t.Fatal(err)
	}
}

// readUntil reads the terminal's output up to and including marker.
func (r *promptRig) readUntil(marker string) string {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), marker) {
		c, err := r.out.ReadByte()
		if err != nil {
			r.t.Fatalf("terminal output ended after %q: %v", b.String(), err)
		}
		b.WriteByte(c)
	}
	return b.String()
}

type askResult struct {
	caps Caps
	ok   bool
}

func (r *promptRig) ask(ctx context.Context, req ConsentRequest) <-chan askResult {
	res := make(chan askResult, 1)
	go func() {
		c, ok := r.term.ask(ctx, req)
		res <- askResult{c, ok}
	}()
	return res
}

var offered = Caps{View: true, Control: true, Forward: true}

// TestConsentIgnoresEarlierInput: Enter typed before the prompt appears asks for a new code and
// does not grant the next viewer anything, even a line the reader already holds when the
// prompt opens.
func TestConsentIgnoresEarlierInput(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	r := newPromptRig(t, time.Minute, func() {
		if first {
			first = false
			close(entered)
			<-release // hold the second line in the reader while the prompt opens
		}
	})
	// Two stray Enters in one read: the first reaches idle (a new code) before any prompt;
	// the second is still in the reader's buffer when the prompt opens.
	r.typeLine("\n\n")
	<-entered
	res := r.ask(context.Background(), ConsentRequest{Viewer: "code", Addr: "192.0.2.1:5000", Offered: offered})
	r.readUntil("> ")
	close(release)
	<-r.idles
	r.typeLine("a\n")
	out := r.readUntil("\n")
	got := <-res
	if !got.ok || got.caps != offered {
		t.Fatalf("consent = %v %v, want %v granted by the line typed after the prompt", got.caps, got.ok, offered)
	}
	if !strings.Contains(out, "granted: "+offered.String()) {
		t.Fatalf("terminal said %q", out)
	}
}

// TestConsentEnterForNewCode: a line typed with no prompt open calls idle (a new code), every
// time.
func TestConsentEnterForNewCode(t *testing.T) {
	r := newPromptRig(t, time.Minute, nil)
	for range 3 {
		r.typeLine("\n")
		<-r.idles
	}
}

// TestConsentTimesOut: an unanswered prompt refuses after the timeout, and says so.
func TestConsentTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPromptRig(t, 0, nil)
		start := time.Now()
		res := r.ask(context.Background(), ConsentRequest{Viewer: "code", Addr: "192.0.2.1:5000", Offered: offered})
		r.readUntil("> ")
		go func() { // drain what the prompt prints; the checks below tell what went wrong
			var b strings.Builder
			for !strings.HasSuffix(b.String(), "refused\n") {
				c, err := r.out.ReadByte()
				if err != nil {
					return
				}
				b.WriteByte(c)
			}
		}()
		got := <-res
		if got.ok {
			t.Fatalf("an unanswered prompt granted %v", got.caps)
		}
		if waited := time.Since(start); waited != DefaultConsentTimeout {
			t.Fatalf("refused after %v, want %v", waited, DefaultConsentTimeout)
		}
		synctest.Wait()
	})
}

// TestConsentEscapesNetworkText: what the rendezvous reported is printed escaped, so it cannot
// rewrite the prompt.
func TestConsentEscapesNetworkText(t *testing.T) {
	r := newPromptRig(t, time.Minute, nil)
	res := r.ask(context.Background(), ConsentRequest{Viewer: "code\r\x1b[2Kviewer trusted", Addr: "[fe80::1%\x1b]0;x\x07]:1", Offered: offered})
	out := r.readUntil("> ")
	if strings.ContainsAny(out, "\x1b\x07\r") {
		t.Fatalf("prompt carries raw control bytes: %q", out)
	}
	if !strings.Contains(out, `code\r\x1b[2Kviewer trusted`) {
		t.Fatalf("prompt %q does not show the escaped name", out)
	}
	r.typeLine("n\n")
	r.readUntil("refused\n")
	if got := <-res; got.ok {
		t.Fatal("refused but granted")
	}
}

// TestSessionLineEscapes: `host sessions` prints what the rendezvous and the viewer supplied
// escaped, one line per session.
func TestSessionLineEscapes(t *testing.T) {
	now := time.Unix(1e9, 0)
	line := sessionLine(SessionInfo{ID: "9f86\x1b[2J", Method: "code", Viewer: "code\rtrusted", Addr: "[fe80::1%\x07]:1", Caps: "view", Started: now.Add(-time.Minute)}, now)
	if strings.ContainsAny(line[:len(line)-1], "\x1b\r\x07\n") || !strings.HasSuffix(line, "\n") {
		t.Fatalf("sessionLine = %q", line)
	}
	for _, want := range []string{`9f86\x1b[2J`, `code\rtrusted`, `[fe80::1%\x07]:1`, "1m0s"} {
		if !strings.Contains(line, want) {
			t.Errorf("sessionLine = %q, missing %q", line, want)
		}
	}
}
