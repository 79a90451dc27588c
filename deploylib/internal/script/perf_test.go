package script

import (
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// A script of steps is rendered once, when it is built, however often it
// is asked for (the log, the backend): asking again allocates nothing.
func TestStepsRenderedOnce(t *testing.T) {
	script := Steps("tok-1",
		Step{Cmd: shell.New("git", "ls-remote", "https://git.example.com/app.git", "main").WithEnv("GIT_TERMINAL_PROMPT", "0")},
		Step{Cmd: shell.New("test", "-f", "/srv/app/repo/HEAD").In("/srv/app"), Gate: Gate{NonEmpty: true}},
		Step{Cmd: shell.New("true")},
	)
	want := script.String()
	var sink string
	if got := testing.AllocsPerRun(100, func() { sink = script.String() }); got > 0 {
		t.Errorf("rendering a script of steps again: %.1f allocations, want 0", got)
	}
	if sink != want {
		t.Errorf("the script changed when rendered again:\n%s\nwant\n%s", sink, want)
	}
}
