package clipboard

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func FuzzReadMessage(f *testing.F) {
	var seed bytes.Buffer
	writeMessage(&seed, MsgSet, []byte("hello"))
	writeMessage(&seed, MsgUpdate, []byte("wörld"))
	writeMessage(&seed, MsgAck, nil)
	writeMessage(&seed, MsgError, []byte("too large"))
	f.Add(seed.Bytes(), 8)
	f.Add([]byte{MsgSet, 0xff, 0xff, 0xff, 0xff}, 100)
	f.Add([]byte{MsgSet, 0, 0, 0, 10, 'a'}, 4)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		r := bytes.NewReader(b)
		for range 32 {
			typ, body, over, err := readMessage(r, limit)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrBadMessage) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if typ < MsgSet || typ > MsgAck {
				t.Fatalf("type %d accepted", typ)
			}
			if len(body) > limit || (over > 0 && (over <= limit || body != nil)) {
				t.Fatalf("limit %d: body %d, over %d", limit, len(body), over)
			}
		}
	})
}
