package input

// Code is a physical key, named on the wire by its KeyboardEvent.code string ("KeyA",
// "ShiftLeft"). The numbers are this package's own and never go on the wire; zero is no key.
//
// A code names a position on the keyboard, not a character: "KeyQ" is the key right of Tab
// whatever the viewer's or the host's layout prints on it. The host turns it into a Linux
// evdev scan code (linux/input-event-codes.h) and an X server with the evdev or libinput
// driver (Xorg, Xvfb, Xwayland, Xvnc) uses evdev+8 as its keycode, so injection is by position
// and the host's own layout decides the character, exactly as for a local keyboard.
type Code uint8

// codeInfo is one row of the key table.
type codeInfo struct {
	name  string
	evdev uint16
}

// codes is the key table, indexed by Code. The names are those of the UI Events KeyboardEvent
// code specification; the scan codes those of linux/input-event-codes.h.
var codes = [...]codeInfo{
	{"", 0},
	// Writing system keys, row by row.
	{"Escape", 1},
	{"Digit1", 2}, {"Digit2", 3}, {"Digit3", 4}, {"Digit4", 5}, {"Digit5", 6},
	{"Digit6", 7}, {"Digit7", 8}, {"Digit8", 9}, {"Digit9", 10}, {"Digit0", 11},
	{"Minus", 12}, {"Equal", 13}, {"Backspace", 14}, {"Tab", 15},
	{"KeyQ", 16}, {"KeyW", 17}, {"KeyE", 18}, {"KeyR", 19}, {"KeyT", 20},
	{"KeyY", 21}, {"KeyU", 22}, {"KeyI", 23}, {"KeyO", 24}, {"KeyP", 25},
	{"BracketLeft", 26}, {"BracketRight", 27}, {"Enter", 28}, {"ControlLeft", 29},
	{"KeyA", 30}, {"KeyS", 31}, {"KeyD", 32}, {"KeyF", 33}, {"KeyG", 34},
	{"KeyH", 35}, {"KeyJ", 36}, {"KeyK", 37}, {"KeyL", 38},
	{"Semicolon", 39}, {"Quote", 40}, {"Backquote", 41}, {"ShiftLeft", 42}, {"Backslash", 43},
	{"KeyZ", 44}, {"KeyX", 45}, {"KeyC", 46}, {"KeyV", 47}, {"KeyB", 48}, {"KeyN", 49}, {"KeyM", 50},
	{"Comma", 51}, {"Period", 52}, {"Slash", 53}, {"ShiftRight", 54},
	{"NumpadMultiply", 55}, {"AltLeft", 56}, {"Space", 57}, {"CapsLock", 58},
	// Function row.
	{"F1", 59}, {"F2", 60}, {"F3", 61}, {"F4", 62}, {"F5", 63},
	{"F6", 64}, {"F7", 65}, {"F8", 66}, {"F9", 67}, {"F10", 68},
	{"NumLock", 69}, {"ScrollLock", 70},
	// Numeric keypad.
	{"Numpad7", 71}, {"Numpad8", 72}, {"Numpad9", 73}, {"NumpadSubtract", 74},
	{"Numpad4", 75}, {"Numpad5", 76}, {"Numpad6", 77}, {"NumpadAdd", 78},
	{"Numpad1", 79}, {"Numpad2", 80}, {"Numpad3", 81}, {"Numpad0", 82}, {"NumpadDecimal", 83},
	{"IntlBackslash", 86}, {"F11", 87}, {"F12", 88}, {"IntlRo", 89},
	{"Convert", 92}, {"KanaMode", 93}, {"NonConvert", 94},
	{"NumpadEnter", 96}, {"ControlRight", 97}, {"NumpadDivide", 98}, {"PrintScreen", 99},
	{"AltRight", 100},
	// Navigation.
	{"Home", 102}, {"ArrowUp", 103}, {"PageUp", 104}, {"ArrowLeft", 105}, {"ArrowRight", 106},
	{"End", 107}, {"ArrowDown", 108}, {"PageDown", 109}, {"Insert", 110}, {"Delete", 111},
	{"AudioVolumeMute", 113}, {"AudioVolumeDown", 114}, {"AudioVolumeUp", 115},
	{"NumpadEqual", 117}, {"Pause", 119}, {"NumpadComma", 121},
	{"Lang1", 122}, {"Lang2", 123}, {"IntlYen", 124},
	{"MetaLeft", 125}, {"MetaRight", 126}, {"ContextMenu", 127},
	{"MediaTrackNext", 163}, {"MediaPlayPause", 164}, {"MediaTrackPrevious", 165}, {"MediaStop", 166},
	{"F13", 183}, {"F14", 184}, {"F15", 185}, {"F16", 186}, {"F17", 187}, {"F18", 188},
	{"F19", 189}, {"F20", 190}, {"F21", 191}, {"F22", 192}, {"F23", 193}, {"F24", 194},
}

// MaxCodeLen is the longest code name accepted on the wire.
const MaxCodeLen = 32

var codeByName = func() map[string]Code {
	m := make(map[string]Code, len(codes))
	for i, c := range codes[1:] {
		m[c.name] = Code(i + 1)
	}
	// Older browsers' names for the same positions.
	m["OSLeft"] = m["MetaLeft"]
	m["OSRight"] = m["MetaRight"]
	return m
}()

// ParseCode returns the key a KeyboardEvent.code names, or false for a name this host does not
// know (such a key is dropped, never guessed).
func ParseCode(name string) (Code, bool) {
	c, ok := codeByName[name]
	return c, ok
}

// String is the KeyboardEvent.code name, or "" for an invalid code.
func (c Code) String() string {
	if int(c) < len(codes) {
		return codes[c].name
	}
	return ""
}

// Valid reports whether c is a key of the table.
func (c Code) Valid() bool { return c != 0 && int(c) < len(codes) }

// Evdev is the Linux evdev scan code of the key's position (KEY_* in input-event-codes.h).
func (c Code) Evdev() uint16 {
	if c.Valid() {
		return codes[c].evdev
	}
	return 0
}

// XKeycode is the X keycode of the key on a server whose keyboard uses evdev keycodes
// (evdev+8): every current X server, including Xvfb.
func (c Code) XKeycode() uint8 {
	if c.Valid() {
		return uint8(codes[c].evdev + 8)
	}
	return 0
}

// Modifier reports whether the key is a modifier that changes what other keys type (Shift,
// Control, Alt, AltGr, Meta); injectors release these around composed text.
func (c Code) Modifier() bool {
	switch c.String() {
	case "ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight", "AltLeft", "AltRight", "MetaLeft", "MetaRight":
		return true
	}
	return false
}

// Codes lists every known key, for tests and viewers that build their own tables.
func Codes() []Code {
	out := make([]Code, 0, len(codes)-1)
	for i := 1; i < len(codes); i++ {
		out = append(out, Code(i))
	}
	return out
}
