package shell

import (
	"strings"
	"testing"
)

// TestAppendQuote checks that AppendQuote appends exactly what Quote
// returns.
func TestAppendQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "/srv/shop/releases/1", "a b", "o'neil", "'", "''", "it's 'quoted'", "$HOME", "a\nb", "~"} {
		got := string(AppendQuote([]byte("prefix "), s))
		if want := "prefix " + Quote(s); got != want {
			t.Errorf("AppendQuote(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestRenderAllocations bounds the allocations of the renderings a
// deploy makes per host: a Script (the planner's script of steps,
// internal/script) is rendered once by its builder, however often it is
// asked for (the log, the backend); quoting a word costs one allocation
// at most, and writing a quoted argument into a command none of its own.
func TestRenderAllocations(t *testing.T) {
	script := Script(switchCommand().String()+"\necho capstan-step: tok-1 3", "parts")
	want := script.String()
	tests := []struct {
		name string
		f    func() string
		max  float64
	}{
		{"a Script again", script.String, 0},
		{"Quote of a word with quotes", func() string { return Quote("deployed by o'neil on 'main'") }, 1},
		{"a command with quoted arguments", New("echo", "it's", "a b", "c d").String, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, func() { benchSink = tt.f() }); got > tt.max {
				t.Errorf("%.1f allocations, want at most %.0f", got, tt.max)
			}
		})
	}
	if got := script.String(); got != want || !strings.Contains(got, "capstan-step: tok-1 3") {
		t.Errorf("the script changed when rendered again:\n%s\nwant\n%s", got, want)
	}
}
