package console

import "testing"

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
		{"é ü ✔ 日本", "é ü ✔ 日本"},
		{"\x1b[2J\x1b[H", "^[[2J^[[H"},
		{"\x1b]0;title\x07", "^[]0;title^G"},
		{"cr\roverwrite", "cr^Moverwrite"},
		{"nul\x00 del\x7f bs\b", "nul^@ del^? bs^H"},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bidi \u202eevil", `bidi \u202eevil`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"", ""},
	}
	for _, tt := range tests {
		got := Sanitize(tt.in)
		if got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Sanitize(got); again != got {
			t.Errorf("Sanitize is not idempotent on %q: %q", got, again)
		}
	}
}
