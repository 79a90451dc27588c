package script

import (
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// StepsWithin encloses the script of steps and keeps it one: StepList
// still returns the steps.
func TestWithin(t *testing.T) {
	steps := []Step{{Cmd: shell.New("true")}, {Cmd: shell.New("echo", "a b")}}
	c := Within("read -r X && export X && {\n", "\n}", "tok", steps...)
	plain := Steps("tok", steps...).String()
	if got := c.String(); got != "read -r X && export X && {\n"+plain+"\n}" {
		t.Errorf("script:\n%s", got)
	}
	if tok, list := List(c); tok != "tok" || len(list) != 2 || !strings.Contains(list[1].Cmd.String(), "'a b'") {
		t.Errorf("StepList = %q, %v", tok, list)
	}
}
