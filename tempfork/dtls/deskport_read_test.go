// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/pion/transport/v5/test"
)

// Records of every size arrive whole and keep their bytes after later records are read: the
// read path hands each record to Read without a copy through the pooled read buffer.
func TestRecordsKeepTheirBytes(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := pipePair(t)
	const records = 300
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < records; i++ {
			msg := bytes.Repeat([]byte{byte(i)}, 1+i*7%1400)
			if _, err := client.Write(msg); err != nil {
				errc <- err

				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 2048)
	var kept [][]byte
	for i := 0; i < records; i++ {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want := bytes.Repeat([]byte{byte(i)}, 1+i*7%1400)
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("record %d: %d bytes, want %d of %#x", i, n, len(want), byte(i))
		}
		kept = append(kept, bytes.Clone(buf[:n]))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i, k := range kept {
		if !bytes.Equal(k, bytes.Repeat([]byte{byte(i)}, 1+i*7%1400)) {
			t.Fatalf("record %d changed after it was read", i)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close ends the read loop blocked in the underlying connection and a Read waiting for it.
func TestCloseInterruptsBlockedRead(t *testing.T) {
	defer test.CheckRoutines(t)()

	client, server := deskportPair(t, noWrap, noWrap)
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
	// The client gets the server's close_notify and ends its read loop too.
	for {
		if _, err := client.Read(make([]byte, 64)); err != nil {
			break
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
}
