package files

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func FuzzDecodeHeader(f *testing.F) {
	for _, h := range []Header{
		{Op: OpPut, Mode: 0o644, Size: 12345, Path: "dir/file.txt"},
		{Op: OpPut, Flags: FlagNoClobber, Path: "x"},
		{Op: OpGet, Path: "../etc/passwd"},
		{Op: OpList, Path: "."},
	} {
		b, err := h.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v does not wrap ErrBadHeader", err)
			}
			return
		}
		again, err := h.Encode()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", h, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed %x to %x", b, again)
		}
		// The path check must never panic and never accept an escape.
		if p, err := cleanPath(h.Path, "root", true); err == nil {
			if p == ".." || bytes.HasPrefix([]byte(p), []byte("../")) || bytes.HasPrefix([]byte(p), []byte("/")) {
				t.Fatalf("cleanPath accepted %q as %q", h.Path, p)
			}
			if bytes.ContainsFunc([]byte(p), isControl) {
				t.Fatalf("cleanPath accepted %q with a control character", h.Path)
			}
		}
	})
}

// FuzzReadFrame feeds arbitrary streams to the frame reader and the status and entry decoders.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	writeFrame(&seed, frameStatus, encodeStatus(status{Code: CodeNotFound, Arg: 7, Text: "x does not exist"}))
	writeFrame(&seed, frameEntry, encodeEntry(Entry{Name: "a.txt", Size: 5, Mode: 0o644, ModTime: time.Unix(1, 2)}))
	writeFrame(&seed, frameData, []byte("data"))
	writeFrame(&seed, frameDone, make([]byte, 32))
	writeFrame(&seed, frameAbort, []byte("gave up"))
	f.Add(seed.Bytes())
	f.Add([]byte{frameData, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 64 {
			typ, body, err := readFrame(r, nil)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrBadHeader) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			lo, hi, _ := bodyLimits(typ)
			if len(body) < lo || len(body) > hi {
				t.Fatalf("frame %d of %d bytes escaped the limits", typ, len(body))
			}
			switch typ {
			case frameStatus:
				if st, err := decodeStatus(body); err == nil && !bytes.Equal(encodeStatus(st), body) {
					t.Fatalf("status round trip changed %x", body)
				}
			case frameEntry:
				if e, err := decodeEntry(body); err == nil && !bytes.Equal(encodeEntry(e), body) {
					t.Fatalf("entry round trip changed %x to %x", body, encodeEntry(e))
				}
			}
		}
	})
}
