package files

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskport/deskport/mux"
)

// TestSessionEndIsNotHostShutdown: a transfer cut because its session ended — a viewer that
// went away or was kicked as often as a host stopping — is not reported as the host shutting
// down. The host's log said "(the host is shutting the session down)" when a viewer pressed
// Ctrl-C in the middle of `viewer cp`.
func TestSessionEndIsNotHostShutdown(t *testing.T) {
	transfers := make(chan Transfer, 1)
	srv, err := NewServer(Config{Root: filepath.Join(t.TempDir(), "root"), OnTransfer: func(tr Transfer) { transfers <- tr }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sctx, end := context.WithCancel(context.Background())
	defer end()
	open := func(ctx context.Context, req mux.Request) (net.Conn, error) {
		viewer, host := net.Pipe()
		go srv.Handle(sctx, host, req)
		return viewer, nil
	}
	src := filepath.Join(t.TempDir(), "src.bin")
	writeRandom(t, src, 8<<20, 3)
	if err := Put(context.Background(), open, src, "cut.bin", cancelAfter(end)); err == nil {
		t.Fatal("the upload survived its session's end")
	}
	tr := <-transfers
	if tr.Err == nil || strings.Contains(tr.Err.Error(), "shutting") || !strings.Contains(tr.Err.Error(), "session ended") {
		t.Errorf("the host reports %v; want that the session ended, not that the host shuts down", tr.Err)
	}
}
