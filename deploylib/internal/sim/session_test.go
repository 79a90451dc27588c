package sim

import (
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// TestUnquoteWord checks that the servers read back the commands the
// client quotes (shell.Quote), followed by the rest of its script.
func TestUnquoteWord(t *testing.T) {
	tests := []string{
		"true",
		"",
		"echo 'it''s' && printf '%s\\n' \"$x\"",
		"a\nb\tc \\ d",
		"cd /srv/sim/releases && ( echo 'Branch main' >> /srv/sim/revisions.log )",
	}
	for _, cmd := range tests {
		if got := unquoteWord([]byte(shell.Quote(cmd) + ` "${capstan_sh##*/}" </dev/null`)); got != cmd {
			t.Errorf("unquoteWord(shell.Quote(%q)) = %q", cmd, got)
		}
	}
}
