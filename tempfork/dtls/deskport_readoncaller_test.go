// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

func readOnCaller(cfg *Config) { cfg.ReadOnCaller = true }

// With ReadOnCaller, the read loop hands reading over to Read once the handshake has
// completed and Read has been called, and records still arrive whole and in order.
func TestReadOnCallerRecords(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePairWith(t, readOnCaller)
	// Before the first Read the read loop reads, as without ReadOnCaller (a connection
	// nobody reads still answers the peer's retransmissions and alerts).
	if _, err := client.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-server.readHandedOff:
		t.Fatal("the read loop handed over before any Read")
	default:
	}
	readWant(t, server, []byte("early"))
	const records = 300
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < records; i++ {
			if _, err := client.Write(bytes.Repeat([]byte{byte(i)}, 1+i*7%1400)); err != nil {
				errc <- err

				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 2048)
	for i := 0; i < records; i++ {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, 1+i*7%1400); !bytes.Equal(buf[:n], want) {
			t.Fatalf("record %d: %d bytes, want %d of %#x", i, n, len(want), byte(i))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The read loop handed over at the latest after the first record it read.
	select {
	case <-server.readHandedOff:
	default:
		t.Fatal("the server's read loop still runs after 300 records")
	}
	// A record too large for the buffer is an error, and the next record is read whole.
	if _, err := client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 10)); !errors.Is(err, errBufferTooSmall) {
		t.Fatalf("Read into 10 bytes of a 100-byte record: %v, want errBufferTooSmall", err)
	}
	if _, err := client.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	readWant(t, server, []byte("next"))
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}

// Without ReadOnCaller the read loop keeps reading after the handshake.
func TestReadLoopStaysWithoutReadOnCaller(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePair(t)
	for i := 0; i < 3; i++ {
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		readWant(t, server, []byte("x"))
	}
	select {
	case <-server.readHandedOff:
		t.Fatal("the read loop handed over without ReadOnCaller")
	default:
	}
	_ = client.Close()
	_ = server.Close()
}

// The read deadline interrupts a Read that reads on its caller's goroutine, and a Read after
// the deadline is lifted gets the next record.
func TestReadOnCallerDeadline(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePairWith(t, readOnCaller)
	if _, err := client.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	readWant(t, server, []byte("first"))
	if err := server.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := server.Read(make([]byte, 64))
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Read returned %v after a 50 ms deadline", d)
	}
	if err := server.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	readWant(t, server, []byte("second"))
	// A deadline in the past makes the next Read return at once, as SCTP's Abort relies on.
	if err := server.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 64)); !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("Read with a deadline in the past: %v, want a timeout", err)
	}
	_ = client.Close()
	_ = server.Close()
}

// Close interrupts a Read blocked in the underlying connection on its caller's goroutine.
func TestReadOnCallerCloseInterruptsRead(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePairWith(t, readOnCaller)
	if _, err := client.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	readWant(t, server, []byte("first"))
	errc := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 64))
		errc <- err
	}()
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, io.EOF) && !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Read after Close: %v, want io.EOF or ErrConnClosed", err)
	}
	_ = client.Close()
}

// The peer's close_notify ends reading with io.EOF, and every later Read returns io.EOF too.
func TestReadOnCallerCloseNotify(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePairWith(t, readOnCaller)
	if _, err := client.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	readWant(t, server, []byte("first"))
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := server.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
			t.Fatalf("Read %d after the peer's close_notify: %v, want io.EOF", i, err)
		}
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRecordReadOnCaller is BenchmarkRecord with ReadOnCaller on both ends.
func BenchmarkRecordReadOnCaller(b *testing.B) {
	benchmarkRecord(b, readOnCaller)
}

// A datagram of several application data records gives one record a Read, in order, with and
// without ReadOnCaller (pion/dtls itself sends one record a datagram; other stacks pack them).
func TestSeveralRecordsInOneDatagram(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "read loop", true: "read on caller"}[on], func(t *testing.T) {
			defer test.CheckRoutines(t)()

			client, server := pipePairWith(t, func(cfg *Config) { cfg.ReadOnCaller = on })
			if _, err := client.Write([]byte("first")); err != nil {
				t.Fatal(err)
			}
			readWant(t, server, []byte("first"))
			words := []string{"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
			var datagram []byte
			var rAddr net.Addr
			client.writeLock.Lock()
			for _, w := range words {
				raw, addr, err := client.sealApplicationData(client.state.getLocalEpoch(), []byte(w))
				if err != nil {
					client.writeLock.Unlock()
					t.Fatal(err)
				}
				datagram, rAddr = append(datagram, raw...), addr
			}
			client.writeLock.Unlock()
			if _, err := client.nextConn.Conn().WriteTo(datagram, rAddr); err != nil {
				t.Fatal(err)
			}
			for _, w := range words {
				readWant(t, server, []byte(w))
			}
			_ = client.Close()
			_ = server.Close()
		})
	}
}

// Records larger than the seal buffer's first size grow it, and smaller ones after them reuse
// it: every record arrives with its own bytes.
func TestSealBufferReuse(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePairWith(t, readOnCaller)
	sizes := []int{1, 1200, 1536, 4000, 8000, 100, 1400, 8000, 7} // a datagram fits 8192 bytes (inboundBufferSize)
	errc := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			if _, err := client.Write(bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
				errc <- err

				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 8192)
	for i, want := range sizes {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i + 1)}, want)) {
			t.Fatalf("record %d: %d bytes, want %d of %#x", i, n, want, byte(i+1))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	_ = server.Close()
}
