package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// TestFailedHooksRunOnlyForFlows: as in Capistrano, a team's deploy:failed
// hooks (its "deploy failed" notification) run when the deploy or
// rollback flow fails, not when a task run on its own fails. Capstan's
// own recovery still runs for every run: the release a lone task
// half-built is removed and the lock is released.
func TestFailedHooksRunOnlyForFlows(t *testing.T) {
	t.Parallel()
	gitCheckFails := backend.Rule{Match: "ls-remote", Reply: backend.Reply{Status: 128, Stderr: "fatal: could not read from remote repository\n"}}
	linkFails := backend.Rule{Match: "ln -s /srv/shop/shared/log", Reply: backend.Reply{Status: 3, Stderr: "ln: disk on fire\n"}}
	removal := remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String() + " && rm -rf /srv/shop/releases/20261125214042 "
	tests := []struct {
		name        string
		task        func(d *Deployment) *Task
		rules       []backend.Rule
		wantHooks   string
		wantRemoved bool
		wantLocked  bool // the run took the lock, and released it last
	}{
		{"deploy:starting alone", func(*Deployment) *Task { return Starting }, []backend.Rule{gitCheckFails}, "", false, false},
		{"deploy:check alone", func(*Deployment) *Task { return Check }, []backend.Rule{gitCheckFails}, "", false, false},
		{"deploy:updating alone removes its half-built release", func(*Deployment) *Task { return Updating }, []backend.Rule{linkFails}, "", true, true},
		{"a team task", func(d *Deployment) *Task {
			return d.NewTask("app:restart", "", func(context.Context) error { return errors.New("restart failed") })
		}, nil, "", false, false},
		{"the deploy flow", func(*Deployment) *Task { return Deploy }, []backend.Rule{linkFails}, "before appended after", true, true},
		{"the deploy flow, failing its check", func(*Deployment) *Task { return Deploy }, []backend.Rule{gitCheckFails}, "before appended after", false, false},
		{"the rollback flow", func(*Deployment) *Task { return Rollback }, nil, "before appended after", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := isolate(t, testConfig())
			var tr trace
			BeforeIn(d, Failed, tr.hook("before"))
			AppendIn(d, Failed, tr.hook("appended"))
			AfterIn(d, Failed, tr.hook("after"))
			rec, out, err := recorderRun(t, d, testStage("web1", "web2"), tt.task(d), append(tt.rules, gitRules...)...)
			if err == nil {
				t.Fatalf("the run succeeded, want a failure\n%s", out)
			}
			if got := strings.Join(tr.steps, " "); got != tt.wantHooks {
				t.Errorf("deploy:failed hooks ran %q, want %q\n%s", got, tt.wantHooks, out)
			}
			var removed int
			last := map[string]string{}
			for _, c := range rec.Log() {
				if strings.Contains(c.Command, removal) {
					removed++
				}
				last[c.Host] = c.Command
			}
			if want := map[bool]int{true: 2}[tt.wantRemoved]; removed != want {
				t.Errorf("the half-built release was removed on %d hosts, want %d\n%s", removed, want, transcript(rec))
			}
			if tt.wantLocked {
				for _, h := range []string{"web1", "web2"} {
					if !strings.Contains(last[h], remote.HasLine("/srv/shop/.capstan/lock/details", "run_id=run0001").String()) {
						t.Errorf("%s: the lock was not released last\n%s", h, transcript(rec))
					}
				}
			}
		})
	}
}

// TestTasksByName: the task target's names, separated by spaces or
// commas, are looked up before anything runs; an unknown one is refused
// by name, with the closest task suggested.
func TestTasksByName(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	restart := d.NewTask("app:restart", "", func(context.Context) error { return nil })
	tests := []struct {
		names   string
		want    []*Task
		wantErr []string
	}{
		{"git:create_release", []*Task{GitCreateRelease}, nil},
		{"deploy:new_release_path git:create_release", []*Task{NewReleasePath, GitCreateRelease}, nil},
		{" deploy:new_release_path,git:create_release ,app:restart", []*Task{NewReleasePath, GitCreateRelease, restart}, nil},
		{"deploy:check deploy:check", []*Task{Check}, nil},
		{"rollback", []*Task{Rollback}, nil},
		{"deploy:new_release_path git:create_relase", nil, []string{`"git:create_relase"`, "did you mean git:create_release?"}},
		{"app:restrat", nil, []string{`"app:restrat"`, "did you mean app:restart?"}},
		{"deploy:check frobnicate", nil, []string{`"frobnicate"`}},
		{" , ", nil, []string{"name a task"}},
	}
	for _, tt := range tests {
		got, err := d.TasksByName(tt.names)
		if tt.wantErr != nil {
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("TasksByName(%q) error = %v, want it to say %s", tt.names, err, w)
				}
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("TasksByName(%q) = %v, %v; want %v", tt.names, got, err, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("TasksByName(%q)[%d] = %v, want %v", tt.names, i, got[i], tt.want[i])
			}
		}
	}
	if _, err := d.TasksByName("frobnicate"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a name near no task got a suggestion: %v", err)
	}
}

// TestStartTasksIsOneRun: several tasks named together run in order in one
// run, each with its hooks: one log START and END, one lock, one release
// name, one report; the first failure stops the run.
func TestStartTasksIsOneRun(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	one := d.NewTask("team:one", "", tr.hook("one"))
	two := d.NewTask("team:two", "", func(context.Context) error { tr.hook("two")(nil); return errors.New("two broke") })
	three := d.NewTask("team:three", "", tr.hook("three"))
	BeforeIn(d, one, tr.hook("before-one"))
	AfterIn(d, two, tr.hook("after-two"))
	AfterIn(d, NewReleasePath, tr.hook("after-new-release-path"))
	AfterIn(d, Failed, tr.hook("deploy:failed"))

	run := func(tasks ...*Task) (*backend.Recorder, string, string, error) {
		rec := backend.NewRecorder("", gitRules...)
		var out, log bytes.Buffer
		err := d.StartTasks(context.Background(), tasks, WithStage(testStage("web1", "web2")), WithOutput(&out), WithColor(false),
			WithClock(fixedClock(0)), func(o *runOptions) { o.runID = "run0001"; o.logW = &log },
			WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
		return rec, out.String(), log.String(), err
	}

	_, out, log, err := run(one, two, three)
	if err == nil || !strings.Contains(err.Error(), "two broke") {
		t.Fatalf("error = %v\n%s", err, out)
	}
	if got := strings.Join(tr.steps, " "); got != "before-one one two" {
		t.Errorf("ran %q, want the tasks in order with their hooks, stopping at team:two", got)
	}
	if n := strings.Count(log, "START "); n != 1 || !strings.Contains(log, " team:one team:two team:three, stage test") || strings.Count(log, "END ") != 1 {
		t.Errorf("the log has %d START lines, want one naming the three tasks:\n%s", n, log)
	}
	if n := strings.Count(out, "FAILED"); n != 1 {
		t.Errorf("the console has %d failure reports, want one:\n%s", n, out)
	}

	tr.steps = nil
	rec, out, log, err := run(NewReleasePath, GitCreateRelease)
	if err != nil {
		t.Fatalf("deploy:new_release_path git:create_release: %v\n%s", err, out)
	}
	if got := strings.Join(tr.steps, " "); got != "after-new-release-path" {
		t.Errorf("hooks ran %q", got)
	}
	var locks, creates int
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "mkdir /srv/shop/.capstan/lock") { // a take (tried twice when the lock vanishes meanwhile)
			locks++
		}
		if strings.Contains(c.Command, "git archive") {
			creates++
			if !strings.Contains(c.Command, "/srv/shop/releases/20261125214042") {
				t.Errorf("git:create_release did not create the run's release:\n%s", c.Command)
			}
		}
	}
	if locks != 2 || creates != 2 {
		t.Errorf("lock taken %d times and release created %d times over 2 hosts, want 2 and 2\n%s", locks, creates, transcript(rec))
	}
	if n := strings.Count(log, "START "); n != 1 || !strings.Contains(out, "deploy:new_release_path git:create_release finished: release 20261125214042") {
		t.Errorf("want one run with one release:\nconsole:\n%s\nlog:\n%s", out, log)
	}

	// Listed the wrong way round, git:create_release has no release: it
	// is refused before its git:clone and git:update touch the mirror.
	rec, out, _, err = run(GitCreateRelease, NewReleasePath)
	if err == nil || !strings.Contains(err.Error(), "has none") {
		t.Fatalf("error = %v\n%s", err, out)
	}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "git clone") || strings.Contains(c.Command, "remote update") || strings.Contains(c.Command, "fetch") {
			t.Errorf("the mirror was touched: %s", c.Command)
		}
	}

	if err := d.StartTasks(context.Background(), []*Task{Unlock, Cleanup}, WithStage(testStage("web1"))); err == nil || !strings.Contains(err.Error(), "on its own") {
		t.Errorf("deploy:unlock with another task: %v", err)
	}
}

// TestStartTasksManualRollbackLogsARollback: a rollback composed by hand
// (deploy:revert_release deploy:symlink:release deploy:log_revision)
// records a rollback in revisions.log, as Capistrano's log_revision does
// once a rollback target is chosen, not a deploy of the release.
func TestStartTasksManualRollbackLogsARollback(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec := backend.NewRecorder("", append([]backend.Rule{
		{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n/srv/shop/releases/20261125214038/REVISION\n/srv/shop/releases/20261125214042/REVISION\n"}},
	}, gitRules...)...)
	var out bytes.Buffer
	err := d.StartTasks(context.Background(), []*Task{RevertRelease, SymlinkRelease, LogRevision},
		WithStage(testStage("deploy@web1")), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001" },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := transcript(rec)
	if !strings.Contains(got, "alice rolled back to release 20261125214038") || strings.Contains(got, "deployed as release") {
		t.Errorf("revisions.log does not record a rollback to 20261125214038:\n%s", got)
	}
}
