package shell

import "strings"

// Quote returns s quoted for a POSIX shell so that the shell reads it back as
// exactly one word equal to s. Words made only of characters that no shell
// treats specially are returned as they are; everything else is put in single
// quotes, with each single quote written as '\”. The empty string becomes ”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(quotedLen(s))
	writeQuoted(&b, s)
	return b.String()
}

// AppendQuote appends Quote(s) to dst and returns the extended slice.
func AppendQuote(dst []byte, s string) []byte {
	if s != "" && isSafe(s) {
		return append(dst, s...)
	}
	dst = append(dst, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		dst = append(append(dst, s[:i]...), `'\''`...)
		s = s[i+1:]
	}
	return append(append(dst, s...), '\'')
}

// writeQuote writes Quote(s) to b, without Quote's copy.
func writeQuote(b *strings.Builder, s string) {
	if s != "" && isSafe(s) {
		b.WriteString(s)
		return
	}
	writeQuoted(b, s)
}

// writeQuoted writes s in single quotes, each single quote in it closing
// the quotes, escaped, and opening them again.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(`'\''`)
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('\'')
}

// quotedLen is the length of s in single quotes.
func quotedLen(s string) int { return len(s) + 2 + 3*strings.Count(s, "'") }

// isSafe reports whether s can be passed to a shell without quoting.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_@%+=:,./-", c) >= 0:
		default:
			return false
		}
	}
	// A leading '=' or '%' is harmless, but '~' is not in the set above, so
	// tilde expansion cannot happen.
	return true
}
