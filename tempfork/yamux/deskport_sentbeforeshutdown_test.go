package yamux

import (
	"errors"
	"io"
	"net"
	"testing"
)

// TestWriteSentBeforeShutdownSucceeds: a stream writes a last message and the peer, having read
// it, closes the whole session at once (a viewer that got its transfer's final status). The
// write reached the peer, so it must not report ErrSessionShutdown: the writer waited for its
// frame while the peer's close shut the session down, and a select that saw both the send's
// result and the shutdown picked either at random (a host logged a finished upload as "file
// transfer failed: session shutdown").
func TestWriteSentBeforeShutdownSucceeds(t *testing.T) {
	const rounds = 300
	failed := 0
	for i := 0; i < rounds; i++ {
		c1, c2 := net.Pipe()
		cfg := DefaultConfig()
		cfg.EnableKeepAlive = false
		cfg.LogOutput = io.Discard
		client, err := Client(c1, cfg)
		if err != nil {
			t.Fatal(err)
		}
		server, err := Server(c2, cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := server.AcceptStream()
			if err != nil {
				return
			}
			b := make([]byte, 1)
			if _, err := io.ReadFull(s, b); err == nil {
				server.Close() // the message arrived: end everything at once
			}
		}()
		out, err := client.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		_, err = out.Write([]byte{1})
		<-done
		client.Close()
		server.Close()
		if errors.Is(err, ErrSessionShutdown) {
			failed++
		} else if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d writes that reached the peer reported %v", failed, rounds, ErrSessionShutdown)
	}
}
