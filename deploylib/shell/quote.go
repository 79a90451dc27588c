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
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

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
