package mux

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/internal/msgpipe"
)

// sizeRecorder is a MessageConn that records the size of every message written through it.
type sizeRecorder struct {
	*msgpipe.Conn
	mu    sync.Mutex
	sizes []int
}

func (r *sizeRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *sizeRecorder) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sizes
	r.sizes = nil
	return s
}

// A chunk of FrameBody bytes written to a yamux stream over adapters of TunnelMessage goes out
// as one message: the carried yamux writes header and body together (tempfork/patches/yamux/
// 0002), so the data channel carries neither a 12-byte header message nor a split body.
func TestFrameIsOneMessage(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := msgpipe.New()
	rec := &sizeRecorder{Conn: a}
	cfg := AdapterConfig{MaxMessage: TunnelMessage}
	client, err := NewClientSession(NewStreamConn(rec, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := NewServerSession(NewStreamConn(b, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	st, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	peer, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rec.take() // the SYN, a header alone

	const chunks = 3
	want := make([]byte, chunks*FrameBody)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make([]byte, len(want))
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(peer, got)
		read <- err
	}()
	for i := range chunks {
		if _, err := st.Write(want[i*FrameBody : (i+1)*FrameBody]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the stream delivered different bytes")
	}
	// Window updates from the server travel the other way; this side sent only data frames.
	sizes := rec.take()
	if len(sizes) != chunks {
		t.Fatalf("%d chunks of FrameBody went out as messages of %v bytes, want %d messages of %d", chunks, sizes, chunks, TunnelMessage)
	}
	for _, n := range sizes {
		if n != TunnelMessage {
			t.Fatalf("messages of %v bytes, want each %d", sizes, TunnelMessage)
		}
	}
}
