// Package termtext makes text that came from the network safe to print on a terminal.
//
// A viewer's address, a key comment, a file name, a clipboard or an error message from a peer
// can hold ESC, CR, BEL or C1 codes. Printed raw, they move the cursor, rewrite a line (a fake
// consent prompt), change the window title or, on some terminals, answer back as typed input.
// Everything the host or the viewer prints that a peer or a rendezvous could have chosen goes
// through Escape (one line) or EscapeText (several lines), and nothing else is needed.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every control character, every invalid UTF-8 byte and every
// bidirectional override written as a visible Go-style escape (\x1b, \r, \n, \u202e), so that
// s prints as one line that looks like what it is. Printable text, including non-ASCII, is
// kept as it is.
func Escape(s string) string { return escape(s, false) }

// EscapeText is Escape for multi-line text: newline and tab are kept, everything else Escape
// escapes is escaped.
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	if !needsEscape(s, lines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case lines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unsafe(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string, lines bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unsafe(r) && !(lines && (r == '\n' || r == '\t')) {
			return true
		}
		i += n
	}
	return false
}

// unsafe reports whether r must not reach a terminal raw: C0 and C1 controls, DEL, and the
// Unicode controls that reorder or hide text (bidi embeddings, overrides and isolates, the
// line and paragraph separators), which can make a name read as something else.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029,
		r == 0x200e, r == 0x200f, r == 0x061c, r == 0xfeff:
		return true
	}
	return false
}
