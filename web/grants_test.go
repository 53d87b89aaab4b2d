package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
	"go.uber.org/goleak"

	"github.com/deskport/deskport/mux"
)

// TestGrantsInterop runs web/test/grants-node.mjs: the page's question of what its session may
// do (src/grants.js, mux kind grants) against a Go mux server answering as the host does (OK
// with the list; a one-time code's session only once its owner accepted it) or refusing as an
// older host does (unsupported), plus the wording the page shows for each answer.
func TestGrantsInterop(t *testing.T) {
	node := needNode(t)
	defer goleak.VerifyNone(t)
	if mux.KindGrants != 10 {
		t.Fatalf("mux.KindGrants is %d; src/mux.js says 10", mux.KindGrants)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "grants-node.mjs"))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sess, err := mux.NewServerSession(procConn{r: stdout, w: stdin}, nil)
	if err != nil {
		t.Fatal(err)
	}

	answers := []mux.Reply{
		{Status: mux.StatusOK, Message: "view"},
		{Status: mux.StatusOK, Message: "view,control,clipboard,files,forward,listen"}, // held until released
		{Status: mux.StatusOK, Message: "none"},
		{Status: mux.StatusUnsupported, Message: "unknown stream kind 10"},
		{Status: mux.StatusNotAllowed, Message: "too many stream opens"},
	}
	var (
		mu       sync.Mutex
		asked    int
		released = make(chan struct{})
		wg       sync.WaitGroup
	)
	serve := func(st *yamux.Stream) {
		defer wg.Done()
		defer st.Close()
		req, err := mux.ReadRequest(st)
		if err != nil {
			t.Errorf("read request: %v", err)
			return
		}
		switch req.Kind {
		case mux.KindGrants:
			mu.Lock()
			n := asked
			asked++
			mu.Unlock()
			if n >= len(answers) {
				t.Errorf("grants asked %d times, want %d", n+1, len(answers))
				return
			}
			if n == 1 {
				// As a host whose owner is being asked: no answer until the page has said it
				// waits (it then opens the tcp stream below).
				select {
				case <-released:
				case <-ctx.Done():
					t.Error("the page never said it waits for the host's owner")
					return
				}
			}
			mux.WriteReply(st, answers[n])
		case mux.KindTCP:
			mux.WriteReply(st, mux.Reply{Status: mux.StatusOK})
			close(released)
		default:
			mux.WriteReply(st, mux.Reply{Status: mux.StatusUnsupported})
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go serve(st)
		}
	}()
	select {
	case <-sess.CloseChan():
	case <-ctx.Done():
		t.Error("the session did not end")
	}
	sess.Close()
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("grants-node.mjs: %v", err)
	}
	if asked != len(answers) {
		t.Errorf("grants asked %d times, want %d", asked, len(answers))
	}
}
