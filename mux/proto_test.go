package mux

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []Request{
		{Kind: KindTCP, Addr: "127.0.0.1:5432"},
		{Kind: KindTCP, Addr: "[::1]:22"},
		{Kind: KindListen, ListenID: 7, Addr: "127.0.0.1:0"},
		{Kind: KindReverse, ListenID: 0xdeadbeef, Addr: "10.0.0.5:51234"},
		{Kind: KindInput, Payload: []byte{1, 2, 3}},
		{Kind: KindControl, Payload: []byte{}},
	} {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err != nil {
			t.Fatalf("WriteRequest(%+v): %v", r, err)
		}
		buf.WriteString("trailing")
		got, err := ReadRequest(&buf)
		if err != nil {
			t.Fatalf("ReadRequest: %v", err)
		}
		if len(r.Payload) == 0 {
			r.Payload, got.Payload = nil, nil
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
		if buf.String() != "trailing" {
			t.Errorf("ReadRequest over-read: %q left", buf.String())
		}
	}
}

func TestRequestBytes(t *testing.T) {
	var buf bytes.Buffer
	WriteRequest(&buf, Request{Kind: KindTCP, Addr: "db:5432"})
	want := []byte{1, 1, 0, 7, 'd', 'b', ':', '5', '4', '3', '2'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got % x, want % x", buf.Bytes(), want)
	}
	buf.Reset()
	WriteRequest(&buf, Request{Kind: KindListen, ListenID: 0x01020304, Addr: "a:1"})
	want = []byte{1, 2, 0, 7, 1, 2, 3, 4, 'a', ':', '1'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got % x, want % x", buf.Bytes(), want)
	}
	buf.Reset()
	WriteReply(&buf, Reply{Status: StatusNotAllowed, Message: "no"})
	want = []byte{1, 1, 0, 2, 'n', 'o'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got % x, want % x", buf.Bytes(), want)
	}
}

func TestReadRequestErrors(t *testing.T) {
	long := append([]byte{1, 1, 0x02, 0x01}, bytes.Repeat([]byte("a"), 513)...)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"version 0", []byte{0, 1, 0, 0}, ErrBadVersion},
		{"version 2", []byte{2, 1, 0, 0}, ErrBadVersion},
		{"kind 0", []byte{1, 0, 0, 0}, ErrUnknownKind},
		{"kind 200", []byte{1, 200, 0, 0}, ErrUnknownKind},
		{"oversize", long, ErrTooLong},
		{"header cut", []byte{1, 1, 0}, ErrTruncated},
		{"payload cut", []byte{1, 1, 0, 5, 'a', ':'}, ErrTruncated},
		{"listen without id", []byte{1, 2, 0, 2, 0, 0}, ErrTruncated},
		{"empty target", []byte{1, 1, 0, 0}, ErrBadAddress},
		{"control byte", []byte{1, 1, 0, 3, 'a', '\n', 'b'}, ErrBadAddress},
		{"space", []byte{1, 1, 0, 3, 'a', ' ', 'b'}, ErrBadAddress},
		{"reverse empty origin", []byte{1, 3, 0, 4, 0, 0, 0, 1}, ErrBadAddress},
	} {
		_, err := ReadRequest(bytes.NewReader(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestWriteRequestErrors(t *testing.T) {
	for _, r := range []Request{
		{Kind: 0},
		{Kind: 99},
		{Kind: KindTCP},
		{Kind: KindTCP, Addr: strings.Repeat("a", 600) + ":1"},
		{Kind: KindInput, Payload: make([]byte, 513)},
	} {
		if err := WriteRequest(io.Discard, r); err == nil {
			t.Errorf("WriteRequest(%v) succeeded", r.Kind)
		}
	}
}

func TestReplyRoundTripAndErr(t *testing.T) {
	var buf bytes.Buffer
	long := strings.Repeat("é", 400) // 800 bytes: cut at a rune boundary
	if err := WriteReply(&buf, Reply{Status: StatusNotAllowed, Message: long}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadReply(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Message) != MaxPayload || !errors.Is(r.Err(), ErrNotAllowed) {
		t.Fatalf("got %d bytes, err %v", len(r.Message), r.Err())
	}
	var re *RemoteError
	if !errors.As(r.Err(), &re) || re.Status != StatusNotAllowed || re.Message != r.Message {
		t.Fatalf("Err() = %#v, want a *RemoteError with the status and message", r.Err())
	}
	for st, want := range map[Status]error{StatusTooManyStreams: ErrTooManyStreams, StatusConnRefused: ErrConnectFailed,
		StatusUnreachable: ErrConnectFailed, StatusUnsupported: ErrUnsupported, StatusBadRequest: ErrBadRequest,
		StatusListenFailed: ErrListenFailed} {
		if err := (Reply{Status: st, Message: "why"}).Err(); !errors.Is(err, want) || !strings.HasSuffix(err.Error(), ": why") {
			t.Errorf("status %d: Err() = %v, want %v with the message", st, err, want)
		}
	}
	if (Reply{}).Err() != nil {
		t.Fatal("OK reply has an error")
	}
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{[]byte{1, 99, 0, 0}, ErrUnknownStatus},
		{[]byte{3, 0, 0, 0}, ErrBadVersion},
		{[]byte{1, 0, 0, 1, 0xff}, ErrBadRequest},
		{[]byte{1, 0, 0, 9}, ErrTruncated},
	} {
		if _, err := ReadReply(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("ReadReply(% x) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func FuzzReadRequest(f *testing.F) {
	for _, r := range []Request{
		{Kind: KindTCP, Addr: "127.0.0.1:5432"},
		{Kind: KindListen, ListenID: 1, Addr: "127.0.0.1:8080"},
		{Kind: KindReverse, ListenID: 1, Addr: "[::1]:4000"},
		{Kind: KindClipboard, Payload: []byte("x")},
	} {
		var buf bytes.Buffer
		WriteRequest(&buf, r)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{1, 1, 0xff, 0xff})
	f.Add([]byte{2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadRequest(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err != nil {
			t.Fatalf("decoded %+v does not encode: %v", r, err)
		}
		if !bytes.Equal(buf.Bytes(), in[:buf.Len()]) {
			t.Fatalf("re-encoding differs: % x vs % x", buf.Bytes(), in)
		}
	})
}

func FuzzReadReply(f *testing.F) {
	for _, r := range []Reply{{}, {Status: StatusNotAllowed, Message: "the host allows: 127.0.0.1:22"}, {Status: StatusOK, Message: "127.0.0.1:8080"}} {
		var buf bytes.Buffer
		WriteReply(&buf, r)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{1, 0, 2, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadReply(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteReply(&buf, r); err != nil {
			t.Fatalf("decoded %+v does not encode: %v", r, err)
		}
		if !bytes.Equal(buf.Bytes(), in[:buf.Len()]) {
			t.Fatalf("re-encoding differs")
		}
	})
}
