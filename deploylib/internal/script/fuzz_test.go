package script

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// FuzzStepsGate: a gate is decided twice, by the script on the server
// (case patterns in sh) and by [Gate.Passes] in Go, which the planner
// uses to check what the script reported and test backends use to answer
// as a script would. For any output and any rejected line or prefix, both
// decide the same, and the script's output parses back into the step's
// output followed by the marker of step 1, then either the next step's
// marker (passed) or the stop marker of step 0. Run it with:
//
//	go test -run '^$' -fuzz '^FuzzStepsGate$' -fuzztime 60s ./deploylib/internal/script
func FuzzStepsGate(f *testing.F) {
	f.Add("fine\nmissing x\n\n", "current-is-directory", "missing .", true)
	f.Add(" \n\n", "x", "y", true)
	f.Add("a\ncurrent-is-directory\n", "current-is-directory", "missing .", false)
	f.Add("missing .env\n", "", "missing .", false)
	f.Add("*\n[a]\n'\\\n", "*", "[", true)
	f.Add("\u00a0", "", "", true)
	f.Add("a\r\nb\r\n", "a", "", false)
	f.Fuzz(func(t *testing.T, out, line, prefix string, nonEmpty bool) {
		if strings.ContainsRune(out+line+prefix, 0) {
			return // no argument of a command can hold a NUL
		}
		g := Gate{NonEmpty: nonEmpty}
		if line != "" && !strings.Contains(line, "\n") {
			g.RejectLines = []string{line}
		}
		if prefix != "" && !strings.Contains(prefix, "\n") {
			g.RejectPrefixes = []string{prefix}
		}
		if g.IsZero() {
			return
		}
		c := Steps("fz", Step{Cmd: shell.New("printf", "%s", out), Gate: g}, Step{Cmd: shell.New("true")})
		cmd := exec.Command("/bin/sh", "-c", c.String())
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("script: %v", err)
		}
		passes := g.Passes(out)
		want := out + Marker("fz", 1, 0)
		if passes {
			want += Marker("fz", 2, 0)
		} else {
			want += Marker("fz", 0, 0)
		}
		if string(got) != want {
			t.Errorf("gate %+v on %q: Passes = %v, but the script printed %q", g, out, passes, got)
		}
	})
}
