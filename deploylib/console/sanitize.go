package console

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sanitize returns s with everything a terminal would obey made visible as
// text: escape (shown as ^[), the other C0 controls but tab and newline
// (^G, ^M, ^@, ...), DEL (^?), the C1 controls and the bidirectional
// overrides (\u009b, \u202e) and bytes that are not UTF-8 (\xff). What a
// server prints reaches the operator's terminal and the log as text,
// never as terminal control. Sanitize is idempotent; Capstan's own colour
// is added after it.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isClean reports whether s has nothing Sanitize would change: the common
// case, checked without allocating.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return !strings.ContainsFunc(s, func(r rune) bool {
				return r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || unsafeRune(r)
			}) && utf8.ValidString(s)
		}
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune reports the C1 controls and the Unicode formatting characters
// that reorder or hide text (bidirectional overrides and isolates).
func unsafeRune(r rune) bool {
	return r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
