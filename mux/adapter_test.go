package mux

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/deskport/deskport/internal/msgpipe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// msgPipe returns two stream conns over an in-memory message pipe, with a small maximum
// message so that tests cross message boundaries often.
func msgPipe(maxMsg int) (net.Conn, net.Conn) {
	a, b := msgpipe.New()
	cfg := AdapterConfig{MaxMessage: maxMsg}
	return NewStreamConn(a, cfg), NewStreamConn(b, cfg)
}

func TestStreamConnNettest(t *testing.T) {
	for _, size := range []int{7, 1024, DefaultMaxMessage} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				c1, c2 = msgPipe(size)
				return c1, c2, func() { c1.Close(); c2.Close() }, nil
			})
		})
	}
}

func TestStreamConnRemainder(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := msgpipe.New()
	c := NewStreamConn(b, AdapterConfig{})
	defer c.Close()
	defer a.Close()
	if _, err := a.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 3)
	for len(got) < 12 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "hello world!" {
		t.Fatalf("got %q", got)
	}
}

func TestStreamConnSplitsWrites(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := msgpipe.New()
	c := NewStreamConn(a, AdapterConfig{MaxMessage: 10})
	defer c.Close()
	defer b.Close()
	data := bytes.Repeat([]byte("x"), 25)
	if n, err := c.Write(data); n != 25 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for _, want := range []int{10, 10, 5} {
		buf := make([]byte, 100)
		n, err := b.Read(buf)
		if err != nil || n != want {
			t.Fatalf("message = %d bytes, %v; want %d", n, err, want)
		}
	}
}

func TestStreamConnOversizeMessage(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := msgpipe.New()
	c := NewStreamConn(b, AdapterConfig{MaxReadMessage: 8})
	defer c.Close()
	defer a.Close()
	a.Write(make([]byte, 9))
	_, err := c.Read(make([]byte, 100))
	if !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("err = %v, want ErrShortBuffer", err)
	}
}

func TestStreamConnEOFAndClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	c1, c2 := msgPipe(0)
	c1.Write([]byte("bye"))
	c1.Close()
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if err := c1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c2.Close()
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := c2.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

func TestStreamConnDeadlineReset(t *testing.T) {
	defer goleak.VerifyNone(t)
	c1, c2 := msgPipe(0)
	defer c1.Close()
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	c2.SetReadDeadline(time.Time{})
	c1.Write([]byte("k"))
	if n, err := c2.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read after reset = %d, %v", n, err)
	}
}
