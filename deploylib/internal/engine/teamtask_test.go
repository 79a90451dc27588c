package engine

import (
	"context"
	"strings"
	"testing"
)

// TestTeamTask runs a team's own task the way its mage target does, with
// its own hooks, and finds it by name for mage <stage> task and mage flow.
func TestTeamTask(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	restart := d.NewTask("app:restart", "restarts the app", func(ctx context.Context) error {
		tr.hook("restart")(ctx)
		return On(ctx, Roles("app"), func(ctx context.Context, h *Host) error {
			return h.Execute(ctx, "systemctl", "restart", "shop")
		})
	})
	BeforeIn(d, restart, tr.hook("before"))
	AfterIn(d, restart, tr.hook("after"))

	for _, name := range []string{"app:restart"} {
		got, err := d.TaskByName(name)
		if err != nil || got != restart {
			t.Fatalf("d.TaskByName(%q) = %v, %v; want the team task", name, got, err)
		}
	}
	rec, out, err := recorderRun(t, d, testStage("deploy@web1", "deploy@web2"), restart)
	if err != nil {
		t.Fatalf("app:restart: %v\n%s", err, out)
	}
	if got := strings.Join(tr.steps, " "); got != "before restart after" {
		t.Errorf("ran %q, want before restart after", got)
	}
	if got := transcript(rec); strings.Count(got, "systemctl restart shop") != 2 {
		t.Errorf("the task's commands:\n%s", got)
	}
	if !strings.Contains(out, "app:restart finished: 2 hosts") {
		t.Errorf("console:\n%s", out)
	}

	flow, err := d.TaskByName("app:restart")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := d.PrintFlow(&b, flow); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "app:restart\n  [before]\n") || !strings.Contains(b.String(), "\n  [after]\n") {
		t.Errorf("mage flow app:restart shows no hooks:\n%s", b.String())
	}

	_, err = d.TaskByName("app:restrat")
	if err == nil || !strings.Contains(err.Error(), "app:restart") {
		t.Errorf("an unknown task's error should list the team's tasks: %v", err)
	}
}

// TestOutsideRunSaysHow: a mage target that calls a hook directly gets an
// error that shows how to start it as a task.
func TestOutsideRunSaysHow(t *testing.T) {
	err := On(context.Background(), All(), func(context.Context, *Host) error { return nil })
	for _, want := range []string{"called outside a run", "deploylib.NewTask(", "deploylib.Start(ctx, AppRestart)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
