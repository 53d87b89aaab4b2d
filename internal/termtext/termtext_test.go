package termtext

import (
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, one, text string }{
		{"plain", "plain", "plain"},
		{"grüße, 東京", "grüße, 東京", "grüße, 東京"},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`, `\x1b[2J\x1b]0;pwned\x07`},
		{"a\rviewer trusted from 10.0.0.1", `a\rviewer trusted from 10.0.0.1`, `a\rviewer trusted from 10.0.0.1`},
		{"two\nlines\tx", `two\nlines\tx`, "two\nlines\tx"},
		{"csi\u009b1m", `csi\x9b1m`, `csi\x9b1m`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"bad\xffutf8", `bad\xffutf8`, `bad\xffutf8`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`, `evil\u202etxt.exe`},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.one {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.one)
		}
		if got := EscapeText(tt.in); got != tt.text {
			t.Errorf("EscapeText(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
}

// FuzzEscape checks that no input, however hostile, leaves a control byte in Escape's output
// or anything but newline and tab in EscapeText's.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[31m", "\xc2\x9b", "\u202e", "\xff\xfe", "a\nb\tc\rd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, lines := range []bool{false, true} {
			out := escape(s, lines)
			if !utf8.ValidString(out) {
				t.Fatalf("escape(%q, %v) = %q is not UTF-8", s, lines, out)
			}
			for _, r := range out {
				if unsafe(r) && !(lines && (r == '\n' || r == '\t')) {
					t.Fatalf("escape(%q, %v) = %q keeps %U", s, lines, out, r)
				}
			}
		}
	})
}
