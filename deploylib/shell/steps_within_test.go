package shell

import (
	"strings"
	"testing"
)

// StepsWithin encloses the script of steps and keeps it one: StepList
// still returns the steps.
func TestStepsWithin(t *testing.T) {
	steps := []Step{{Cmd: New("true")}, {Cmd: New("echo", "a b")}}
	c := StepsWithin("read -r X && export X && {\n", "\n}", "tok", steps...)
	plain := Steps("tok", steps...).String()
	if got := c.String(); got != "read -r X && export X && {\n"+plain+"\n}" {
		t.Errorf("script:\n%s", got)
	}
	if tok, list := c.StepList(); tok != "tok" || len(list) != 2 || !strings.Contains(list[1].Cmd.String(), "'a b'") {
		t.Errorf("StepList = %q, %v", tok, list)
	}
}
