package engine

import "testing"

// TestRedactURLWithoutPassword checks that a line with a URL but no
// password is returned as it is without the URL expression's work (every
// git command of a deploy names the repository's URL, and at 1000 hosts
// the expression was 4% of the client's CPU), and that passwords are
// still redacted.
func TestRedactURLWithoutPassword(t *testing.T) {
	tests := []struct{ in, want string }{
		{"git ls-remote https://git.example.com/shop.git main", "git ls-remote https://git.example.com/shop.git main"},
		{"ssh://git@example.com/shop.git and https://x.test", "ssh://git@example.com/shop.git and https://x.test"},
		{"git clone https://deploy:hunter2@git.example.com/shop.git", "git clone https://deploy:" + redacted + "@git.example.com/shop.git"},
		{"a@b then https://u:pw@h/x", "a@b then https://u:" + redacted + "@h/x"},
		{"https://x.test then ftp://u:pw@h/", "https://x.test then ftp://u:" + redacted + "@h/"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	line := tests[0].in
	if allocs := testing.AllocsPerRun(100, func() { line = redact(line) }); allocs != 0 {
		t.Errorf("redact of a URL without a password: %.0f allocations, want 0", allocs)
	}
}
