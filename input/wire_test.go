package input

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func code(t testing.TB, name string) Code {
	t.Helper()
	c, ok := ParseCode(name)
	if !ok {
		t.Fatalf("no key %s", name)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	events := []Event{
		PointerTo(0.25, 0.5), PointerTo(-1, 2), PointerBy(-5, 7), PointerBy(40000, -40000),
		ButtonEvent(ButtonLeft, true), ButtonEvent(ButtonForward, false),
		WheelBy(0, -120), WheelBy(33, 1),
		KeyEvent(code(t, "KeyA"), true), KeyEvent(code(t, "NumpadAdd"), false),
		TextEvent("é"), TextEvent(strings.Repeat("€", MaxText/3)),
		ReleaseAllEvent(), HeartbeatEvent(3, 0b101), HeartbeatEvent(1000, 0xff),
	}
	b, err := Encode(events...)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(iotest.OneByteReader(bytes.NewReader(b)))
	for i, want := range events {
		// What the wire carries: clamped values.
		switch want.Type {
		case TypePointerRel:
			want.DX, want.DY = clamp(want.DX, -32768, 32767), clamp(want.DY, -32768, 32767)
		case TypeHeartbeat:
			want.HeldKeys, want.HeldButtons = min(want.HeldKeys, MaxHeldKeys), want.HeldButtons&0x1f
		}
		got, err := d.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got != want {
			t.Errorf("event %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("after the last event: %v, want io.EOF", err)
	}
	if d.Dropped() != 0 {
		t.Errorf("dropped %d", d.Dropped())
	}
}

func TestWireBytes(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want []byte
	}{
		{PointerTo(0, 1), []byte{1, 0, 4, 0, 0, 0xff, 0xff}},
		{PointerBy(-1, 2), []byte{2, 0, 4, 0xff, 0xff, 0, 2}},
		{ButtonEvent(ButtonRight, true), []byte{3, 0, 2, 3, 1}},
		{WheelBy(0, 120), []byte{4, 0, 4, 0, 0, 0, 120}},
		{KeyEvent(code(t, "KeyA"), true), []byte{5, 0, 5, 1, 'K', 'e', 'y', 'A'}},
		{TextEvent("é"), []byte{6, 0, 2, 0xc3, 0xa9}},
		{ReleaseAllEvent(), []byte{7, 0, 0}},
		{HeartbeatEvent(2, 1), []byte{8, 0, 2, 2, 1}},
	} {
		got, err := AppendEvent(nil, tc.e)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%v: % x, %v; want % x", tc.e.Type, got, err, tc.want)
		}
	}
	if got := AppendHello(nil, 1280, 720); !bytes.Equal(got, []byte{1, 0x05, 0x00, 0x02, 0xd0}) {
		t.Errorf("hello % x", got)
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, e := range []Event{
		{}, {Type: 99}, ButtonEvent(0, true), ButtonEvent(6, true), KeyEvent(0, true), KeyEvent(200, true),
		TextEvent(""), TextEvent(strings.Repeat("a", MaxText+1)), TextEvent("\xff"), TextEvent("a\nb"), TextEvent("\x1b"),
	} {
		if _, err := AppendEvent(nil, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", e, err)
		}
	}
	for _, name := range []string{"", "Key A", strings.Repeat("K", MaxCodeLen+1), "Kéy"} {
		if _, err := AppendKeyName(nil, name, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("key %q: %v, want ErrInvalid", name, err)
		}
	}
}

func TestHello(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want Hello
		err  error
	}{
		{[]byte{1}, Hello{Version: 1}, nil},
		{AppendHello(nil, 1920, 1080), Hello{1, 1920, 1080}, nil},
		{[]byte{1, 0, 10, 0, 20, 99, 99}, Hello{1, 10, 20}, nil}, // reserved bytes ignored
		{[]byte{1, 0, 10}, Hello{Version: 1}, nil},               // a partial size is no size
		{nil, Hello{}, ErrBadVersion},
		{[]byte{2, 0, 10, 0, 20}, Hello{}, ErrBadVersion},
	} {
		got, err := ParseHello(tc.p)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("% x: %+v, %v; want %+v, %v", tc.p, got, err, tc.want, tc.err)
		}
	}
	if got := AppendHello(nil, 0, 720); !bytes.Equal(got, []byte{1}) {
		t.Errorf("no size: % x", got)
	}
}

func TestDecoderSkips(t *testing.T) {
	var b []byte
	b = append(b, 200, 0, 3, 1, 2, 3)                           // unknown type: skipped
	b = append(b, byte(TypePointerAbs), 0, 2, 1, 2)             // too short: dropped
	b = append(b, byte(TypeButton), 0, 2, 9, 1)                 // unknown button
	b, _ = AppendKeyName(b, "KeyNope", true)                    // unknown key
	b = append(b, byte(TypeText), 0, 2, 0xc3, 0x28)             // not UTF-8
	b = append(b, byte(TypeText), 0, 1, 0x07)                   // a control character
	b = append(b, byte(TypeKey), 0, 1, 1)                       // a key without a code
	b = append(b, byte(TypeHeartbeat), 0, 1, 1)                 // too short
	b = append(b, byte(TypePointerAbs), 0, 6, 0, 1, 0, 2, 7, 7) // longer: reserved bytes ignored
	d := NewDecoder(bytes.NewReader(b))
	e, err := d.Next()
	if err != nil || e != (Event{Type: TypePointerAbs, X: 1, Y: 2}) {
		t.Fatalf("got %+v, %v", e, err)
	}
	if d.Dropped() != 8 {
		t.Errorf("dropped %d, want 8", d.Dropped())
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("%v, want EOF", err)
	}
}

func TestDecoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"half header", []byte{1, 0}, ErrTruncated},
		{"short payload", []byte{1, 0, 4, 1}, ErrTruncated},
		{"too long", []byte{200, 0xff, 0xff}, ErrTooLong},
		{"just too long", []byte{200, 0x02, 0x01}, ErrTooLong},
	} {
		_, err := NewDecoder(bytes.NewReader(tc.b)).Next()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := NewDecoder(iotest.ErrReader(boom)).Next(); !errors.Is(err, boom) {
		t.Errorf("reader error: %v", err)
	}
	// A payload of exactly the limit is read and skipped.
	b := append([]byte{200, 0x02, 0x00}, make([]byte, MaxEventPayload)...)
	b = append(b, byte(TypeReleaseAll), 0, 0)
	if e, err := NewDecoder(bytes.NewReader(b)).Next(); err != nil || e.Type != TypeReleaseAll {
		t.Errorf("after a maximal unknown event: %+v, %v", e, err)
	}
}

func TestMapToRect(t *testing.T) {
	for _, tc := range []struct {
		nx, ny, x, y, w, h int
		wx, wy             int
	}{
		{Normalise(0.25), Normalise(0.5), 0, 0, 1280, 720, 320, 360},
		{0, 0, 0, 0, 1280, 720, 0, 0},
		{NormMax, NormMax, 0, 0, 1280, 720, 1279, 719},
		{NormMax, NormMax, 1920, 0, 1280, 1024, 3199, 1023},
		{-5, 70000, 10, 10, 100, 100, 10, 109}, // clamped
		{NormMax, NormMax, 5, 5, 1, 1, 5, 5},
	} {
		if gx, gy := MapToRect(tc.nx, tc.ny, tc.x, tc.y, tc.w, tc.h); gx != tc.wx || gy != tc.wy {
			t.Errorf("%+v: (%d, %d)", tc, gx, gy)
		}
	}
}

func FuzzDecode(f *testing.F) {
	seed, _ := Encode(PointerTo(0.5, 0.5), PointerBy(1, -1), ButtonEvent(ButtonLeft, true), WheelBy(0, 60),
		KeyEvent(1, true), TextEvent("é€😀"), ReleaseAllEvent(), HeartbeatEvent(1, 1))
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{200, 0x02, 0x00})
	f.Add([]byte{byte(TypeKey), 0, 33, 1, 'K', 'e', 'y'})
	f.Add([]byte{byte(TypeText), 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		n := 0
		for {
			e, err := d.Next()
			if err != nil {
				break
			}
			n++
			// Whatever decodes must encode again, to the same event.
			enc, err := AppendEvent(nil, e)
			if err != nil {
				t.Fatalf("decoded %+v does not encode: %v", e, err)
			}
			back, err := NewDecoder(bytes.NewReader(enc)).Next()
			if err != nil || back != e {
				t.Fatalf("%+v re-decodes as %+v, %v", e, back, err)
			}
		}
		if n+int(d.Dropped()) > len(b)/eventHeader {
			t.Fatalf("%d events and %d drops from %d bytes", n, d.Dropped(), len(b))
		}
	})
}

// TestDocExample keeps the example of docs/protocol.md §1.8 true.
func TestDocExample(t *testing.T) {
	a := code(t, "KeyA")
	b, err := Encode(PointerTo(0.5, 0.5), KeyEvent(a, true), KeyEvent(a, false), TextEvent("é"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 0, 4, 0x80, 0, 0x80, 0, 5, 0, 5, 1, 'K', 'e', 'y', 'A', 5, 0, 5, 0, 'K', 'e', 'y', 'A', 6, 0, 2, 0xc3, 0xa9}
	if !bytes.Equal(b, want) {
		t.Errorf("% x\nwant\n% x", b, want)
	}
}
