package control

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	two := 2
	for _, m := range []*Message{
		{Type: TypeKeyframe},
		{Type: TypeQuality, Preset: "low"},
		{Type: TypeQuality, FPS: 15, MaxBitrate: 500_000},
		{Type: TypeMonitor, Monitor: &two},
		{Type: TypeStats, Stats: &Stats{FPS: 29.5, BitrateBps: 1_200_000, Width: 1280, Height: 720}},
		{Type: TypeHello, Monitors: []Monitor{{Index: 0, Width: 1920, Height: 1080}}},
		{Type: TypeError, Error: "no monitor 3"},
	} {
		var b bytes.Buffer
		if err := Write(&b, m); err != nil {
			t.Fatal(err)
		}
		got, err := Read(&b)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if got.Type != m.Type || got.Preset != m.Preset || got.FPS != m.FPS {
			t.Fatalf("got %+v, want %+v", got, m)
		}
	}
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
