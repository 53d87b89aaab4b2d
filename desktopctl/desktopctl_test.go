package desktopctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	two, whole := 2, -1
	msgs := []*Message{
		{Type: TypeKeyframe},
		{Type: TypeQuality, Preset: "low"},
		{Type: TypeQuality, FPS: 15, MaxBitrate: 500_000},
		{Type: TypeMonitor, Monitor: &two},
		{Type: TypeMonitor, Monitor: &whole},
		{Type: TypeStats, Stats: &Stats{FPS: 29.5, BitrateBps: 1_200_000, Width: 1280, Height: 720,
			Keyframes: 3, RTTMillis: 12.5, Lost: 7}},
		{Type: TypeHello, Preset: "balanced", FPS: 30, MaxBitrate: 3_000_000, Monitor: &two,
			Monitors: []Monitor{{Index: 0, Name: "DP-1", Width: 1920, Height: 1080}, {Index: 1, Width: 1280, Height: 1024}}},
		{Type: TypeError, Error: "no monitor 3"},
	}
	for _, m := range msgs {
		var b bytes.Buffer
		if err := Write(&b, m); err != nil {
			t.Fatal(err)
		}
		got, err := Read(&b)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip changed the message:\n got %s\nwant %s", dump(got), dump(m))
		}
		if b.Len() != 0 {
			t.Errorf("%s: %d bytes left after one message", m.Type, b.Len())
		}
	}
	// Every field of every wire struct must be set (non-zero) in some case above, so a field
	// added later that the encoder drops cannot pass unnoticed.
	var msgVals, statVals, monVals []reflect.Value
	for _, m := range msgs {
		msgVals = append(msgVals, reflect.ValueOf(*m))
		if m.Stats != nil {
			statVals = append(statVals, reflect.ValueOf(*m.Stats))
		}
		for _, mon := range m.Monitors {
			monVals = append(monVals, reflect.ValueOf(mon))
		}
	}
	for _, vs := range [][]reflect.Value{msgVals, statVals, monVals} {
		typ := vs[0].Type()
		for i := range typ.NumField() {
			set := false
			for _, v := range vs {
				set = set || !v.Field(i).IsZero()
			}
			if !set {
				t.Errorf("no round-trip case sets %s.%s", typ.Name(), typ.Field(i).Name)
			}
		}
	}
}

func dump(m *Message) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func TestRefused(t *testing.T) {
	for name, body := range map[string]string{
		"unknown type":   `{"type":"reboot"}`,
		"unknown field":  `{"type":"keyframe","x":1}`,
		"bad preset":     `{"type":"quality","preset":"ultra"}`,
		"fps too high":   `{"type":"quality","fps":1000}`,
		"no monitor":     `{"type":"monitor"}`,
		"trailing":       `{"type":"keyframe"}{}`,
		"not json":       `keyframe`,
		"monitor range":  `{"type":"monitor","monitor":-5}`,
		"bitrate":        `{"type":"quality","maxBitrate":-1}`,
		"wrong type val": `{"type":7}`,
	} {
		b := append([]byte{0, byte(len(body))}, body...)
		if _, err := Read(bytes.NewReader(b)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: err %v, want ErrBadMessage", name, err)
		}
	}
	if _, err := Read(bytes.NewReader([]byte{0xff, 0xff})); !errors.Is(err, ErrBadMessage) {
		t.Errorf("oversize: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("\x00\x13{\"type\":\"keyframe\"}"))
	f.Add([]byte("\x00\x1c{\"type\":\"monitor\",\"monitor\":1}"))
	f.Add([]byte("\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, m); err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
	})
}
