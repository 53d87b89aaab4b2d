package input

import (
	"fmt"
	"testing"
)

func TestKeyTable(t *testing.T) {
	want := map[string]uint16{
		"Escape": 1, "Backquote": 41, "Minus": 12, "Equal": 13, "Backspace": 14, "Tab": 15,
		"BracketLeft": 26, "BracketRight": 27, "Backslash": 43, "Semicolon": 39, "Quote": 40,
		"Comma": 51, "Period": 52, "Slash": 53, "Space": 57, "Enter": 28, "CapsLock": 58,
		"IntlBackslash": 86, "IntlRo": 89, "IntlYen": 124, "ContextMenu": 127,
		// Modifiers.
		"ShiftLeft": 42, "ShiftRight": 54, "ControlLeft": 29, "ControlRight": 97,
		"AltLeft": 56, "AltRight": 100, "MetaLeft": 125, "MetaRight": 126, "OSLeft": 125,
		// Navigation.
		"Insert": 110, "Delete": 111, "Home": 102, "End": 107, "PageUp": 104, "PageDown": 109,
		"ArrowUp": 103, "ArrowDown": 108, "ArrowLeft": 105, "ArrowRight": 106,
		"PrintScreen": 99, "ScrollLock": 70, "Pause": 119,
		// Numpad.
		"NumLock": 69, "NumpadDivide": 98, "NumpadMultiply": 55, "NumpadSubtract": 74,
		"NumpadAdd": 78, "NumpadEnter": 96, "NumpadDecimal": 83, "NumpadEqual": 117, "NumpadComma": 121,
		"Numpad0": 82, "Numpad1": 79, "Numpad2": 80, "Numpad3": 81, "Numpad4": 75,
		"Numpad5": 76, "Numpad6": 77, "Numpad7": 71, "Numpad8": 72, "Numpad9": 73,
	}
	// Letters, by keyboard row.
	for _, row := range []struct {
		keys  string
		first uint16
	}{{"QWERTYUIOP", 16}, {"ASDFGHJKL", 30}, {"ZXCVBNM", 44}} {
		for i, k := range row.keys {
			want["Key"+string(k)] = row.first + uint16(i)
		}
	}
	for d := 1; d <= 9; d++ {
		want[fmt.Sprintf("Digit%d", d)] = uint16(d + 1)
	}
	want["Digit0"] = 11
	for f := 1; f <= 10; f++ {
		want[fmt.Sprintf("F%d", f)] = uint16(58 + f)
	}
	want["F11"], want["F12"] = 87, 88
	for f := 13; f <= 24; f++ {
		want[fmt.Sprintf("F%d", f)] = uint16(170 + f)
	}

	for name, evdev := range want {
		c, ok := ParseCode(name)
		if !ok {
			t.Errorf("%s: not known", name)
			continue
		}
		if got := c.Evdev(); got != evdev {
			t.Errorf("%s: evdev %d, want %d", name, got, evdev)
		}
		if got := c.XKeycode(); int(got) != int(evdev)+8 {
			t.Errorf("%s: X keycode %d, want %d", name, got, evdev+8)
		}
	}
	for _, name := range []string{"", "keya", "Key", "Fn", "Unidentified", "KeyAA"} {
		if _, ok := ParseCode(name); ok {
			t.Errorf("%q: known, want unknown", name)
		}
	}
}

func TestKeyTableConsistent(t *testing.T) {
	seen := map[uint16]string{}
	for _, c := range Codes() {
		name := c.String()
		if name == "" || len(name) > MaxCodeLen || !asciiName(name) {
			t.Errorf("code %d: bad name %q", c, name)
		}
		if back, ok := ParseCode(name); !ok || back != c {
			t.Errorf("%s does not parse back to itself", name)
		}
		if prev, dup := seen[c.Evdev()]; dup {
			t.Errorf("%s and %s share evdev %d", name, prev, c.Evdev())
		}
		seen[c.Evdev()] = name
		if c.Evdev() == 0 || c.Evdev() > 247 {
			t.Errorf("%s: evdev %d has no X keycode", name, c.Evdev())
		}
	}
	if Code(0).Valid() || Code(255).Valid() || Code(0).XKeycode() != 0 {
		t.Error("invalid codes must map to nothing")
	}
	mods := 0
	for _, c := range Codes() {
		if c.Modifier() {
			mods++
		}
	}
	if mods != 8 {
		t.Errorf("%d modifiers, want 8", mods)
	}
}
