package host

import (
	"context"
	"net"
	"testing"

	"github.com/deskport/deskport/rendezvous"
)

// startRendezvous serves an in-process rendezvous on loopback and returns its URL and a stop
// function that waits for it to end (call it before a goroutine-leak check).
func startRendezvous(t testing.TB) (url string, stop func()) {
	t.Helper()
	rv, err := rendezvous.New(rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rv.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }
}
