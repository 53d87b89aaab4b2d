//go:build linux && cgo

package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/audit"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// lockedBuffer is a log sink shared by the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// TestRefusedOpensCannotFloodTheAuditLog: a view-only viewer opening 20,000 forwards it may not
// make grows the audit log and the log by a bounded amount, and the host ends its session
// (recorded once) instead of writing a line per refusal.
func TestRefusedOpensCannotFloodTheAuditLog(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	dir := t.TempDir()
	viewerKeyPath := filepath.Join(dir, "viewer.key")
	vk, _, err := identity.LoadOrCreateKey(viewerKeyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_viewers")
	line := "no-port-forwarding,view-only " + identity.AuthorizedLine(vk.Public().(ed25519.PublicKey), "flooder") + "\n"
	if err := os.WriteFile(authorized, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.log")
	logs := &lockedBuffer{}
	a, err := New(Config{Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), AuthorizedViewersPath: authorized,
		Allow: []string{"127.0.0.1:1"}, AuditLogPath: auditPath, Desktop: DesktopConfig{Disabled: true},
		Session: session.Config{LoopbackOnly: true}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hostCtx, hostCancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(hostCtx) }()
	stopHost := sync.OnceFunc(func() { hostCancel(); <-runDone })
	defer stopHost()
	waitOnline(t, rvURL, a.ID())

	conn, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: viewerKeyPath, HostID: a.ID(),
		Session: session.Config{LoopbackOnly: true}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	c := forward.NewClient(conn.Mux, nil)
	auditBefore := fileSize(t, auditPath)
	logBefore := logs.Len()

	const opens = 20000
	var sent, refused atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= opens {
				s, err := c.Dial(ctx, "127.0.0.1:1")
				if err == nil {
					s.Close()
					t.Error("a view-only viewer's forward was accepted")
					return
				}
				if !errors.Is(err, forward.ErrTargetRefused) {
					lastErr.Store(err.Error())
					return // the session is gone
				}
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatalf("the host did not end the session after %d refused opens (last error: %v)", refused.Load(), lastErr.Load())
	}
	stopHost() // the audit log is complete once Run returns

	grew, logGrew := fileSize(t, auditPath)-auditBefore, logs.Len()-logBefore
	t.Logf("%d refused opens before the host ended the session; audit log +%d bytes, log +%d bytes", refused.Load(), grew, logGrew)
	if refused.Load() < OpenBurst/2 {
		t.Fatalf("only %d opens were refused before the session ended; the flood did not run", refused.Load())
	}
	if grew > 16<<10 || logGrew > 32<<10 {
		t.Fatalf("the audit log grew by %d bytes and the log by %d for %d refused opens; want bounded (16 KiB, 32 KiB)", grew, logGrew, refused.Load())
	}
	var abuse, summarised int
	f, _ := os.Open(auditPath)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		switch {
		case e.Type == audit.TypeAbuse:
			abuse++
		case e.Type == audit.TypeRefused && e.Count > 0:
			summarised += e.Count
		}
	}
	if abuse != 1 {
		t.Errorf("%d abuse lines in the audit log, want 1", abuse)
	}
	if summarised == 0 {
		t.Errorf("no summary line counts the refusals that were not written one by one")
	}
}

func fileSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Size())
}
