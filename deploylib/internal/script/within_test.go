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

// Matches tells a script of steps from any other text, without building
// it: the same steps, token and enclosure match; any change does not.
func TestMatches(t *testing.T) {
	steps := []Step{
		{Cmd: shell.New("git", "ls-remote", "https://git.example.com/app.git", "main").WithEnv("GIT_TERMINAL_PROMPT", "0")},
		{Cmd: shell.New("test", "-f", "/srv/app/repo/HEAD").In("/srv/app"), Gate: Gate{NonEmpty: true, RejectLines: []string{"no"}}},
		{Cmd: shell.New("cat", "REVISION"), Keep: "capstan_rev"},
		{Cmd: shell.New("true")},
	}
	c := Within("read -r X && {\n", "\n}", "tok-1", steps...)
	if !Matches(c, "read -r X && {\n", "\n}", "tok-1", steps...) {
		t.Errorf("a script does not match its own steps:\n%s", c)
	}
	if !Matches(Steps("tok-1", steps...), "", "", "tok-1", append([]Step(nil), steps...)...) {
		t.Errorf("a script does not match a copy of its steps")
	}
	with := func(i int, st Step) []Step {
		s := append([]Step(nil), steps...)
		s[i] = st
		return s
	}
	for name, tt := range map[string]struct {
		before, after, token string
		steps                []Step
	}{
		"another argument":   {token: "tok-1", steps: with(3, Step{Cmd: shell.New("false")})},
		"another gate":       {token: "tok-1", steps: with(1, Step{Cmd: steps[1].Cmd, Gate: Gate{NonEmpty: true}})},
		"no gate":            {token: "tok-1", steps: with(1, Step{Cmd: steps[1].Cmd})},
		"another keep":       {token: "tok-1", steps: with(2, Step{Cmd: steps[2].Cmd, Keep: "capstan_other"})},
		"another token":      {token: "tok-2", steps: steps},
		"a step fewer":       {token: "tok-1", steps: steps[:3]},
		"a step more":        {token: "tok-1", steps: append(append([]Step(nil), steps...), Step{Cmd: shell.New("true")})},
		"no steps":           {token: "tok-1"},
		"enclosed":           {before: "read -r X && {\n", after: "\n}", token: "tok-1", steps: steps},
		"another enclosure":  {before: "read -r Y && {\n", after: "\n}", token: "tok-1", steps: steps},
		"enclosed, no close": {before: "read -r X && {\n", token: "tok-1", steps: steps},
	} {
		if Matches(Steps("tok-1", steps...), tt.before, tt.after, tt.token, tt.steps...) {
			t.Errorf("%s: matches", name)
		}
	}
	if Matches(shell.Raw(Steps("tok-1", steps...).String()), "", "", "tok-1", steps...) {
		t.Errorf("a command that is not a script of steps matches")
	}
}

// A step's Text, the String of its command the caller has already, is
// what the script has of the command: the same script, rendered once.
func TestStepText(t *testing.T) {
	steps := []Step{
		{Cmd: shell.New("echo", "a b").In("/srv")},
		{Cmd: shell.New("test", "-f", "x"), Gate: Gate{NonEmpty: true}},
		{Cmd: shell.New("cat", "REVISION"), Keep: "capstan_rev"},
	}
	given := append([]Step(nil), steps...)
	for i := range given {
		given[i].Text = given[i].Cmd.String()
	}
	if a, b := Steps("tok", steps...).String(), Steps("tok", given...).String(); a != b {
		t.Errorf("with Text:\n%s\nwithout:\n%s", b, a)
	}
	if !Matches(Steps("tok", steps...), "", "", "tok", given...) {
		t.Errorf("a script does not match its steps with their Text")
	}
	given[1].Text = "echo other"
	if !strings.Contains(Steps("tok", given...).String(), "capstan_o=$( echo other\n") {
		t.Errorf("Text is not what the script has of the command:\n%s", Steps("tok", given...))
	}
}
