package deploylib

import (
	"context"
	"io"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// WithLogFile appends the run's log to path instead of log/deploy.log;
// "" turns the log file off.
func WithLogFile(path string) Option { return engine.WithLogFile(path) }

// Logf prints a message under the current task, indented like command
// output, and writes it to the log. Hooks use it instead of fmt.Printf so
// that what they say is in the log too, with secrets redacted. Outside a
// run it prints to standard output.
func Logf(ctx context.Context, format string, args ...any) { engine.Logf(ctx, format, args...) }

// Run is one invocation of a flow or task against a stage: the stage and
// configuration, the selected hosts, the release name and the revision.
// Tasks and hooks reach it with [CurrentRun]; it is never a global, so
// parallel hosts cannot overwrite each other's view.
type Run = engine.Run

// Revision is the commit being deployed.
type Revision = engine.Revision

// CurrentRun returns the run that ctx belongs to, or nil outside a run.
func CurrentRun(ctx context.Context) *Run { return engine.CurrentRun(ctx) }

// Option changes how [Start] runs.
type Option = engine.Option

// WithStage runs against s instead of the stage chosen with UseStage.
func WithStage(s Stage) Option { return engine.WithStage(s) }

// WithOutput sends the console output to w (default os.Stdout).
func WithOutput(w io.Writer) Option { return engine.WithOutput(w) }

// WithColor forces colour on or off.
func WithColor(on bool) Option { return engine.WithColor(on) }

// WithDryRun prints every command instead of running it.
func WithDryRun() Option { return engine.WithDryRun() }

// WithVerbose also shows test and capture commands.
func WithVerbose() Option { return engine.WithVerbose() }

// WithDialer connects to servers with dial instead of SSH or the local
// shell. Tests use it with the Recorder backend.
func WithDialer(dial func(ctx context.Context, s Server) (backend.Conn, error)) Option {
	return engine.WithDialer(dial)
}

// WithClock fixes the time the run sees (release names, elapsed times).
func WithClock(now func() time.Time) Option { return engine.WithClock(now) }

// Start runs task, with its hooks and sub-tasks, against the selected
// stage. When anything fails it returns the error, naming the task and
// host, after the failure handling: for the deploy and rollback flows
// [Failed] with its hooks; for any other task Failed's own work alone
// (removing the release the run half-built), without the hooks, as in
// Capistrano. It is what the mage targets call.
func Start(ctx context.Context, task *Task, opts ...Option) error {
	return engine.Start(ctx, task, opts...)
}

// StartTasks runs tasks in order as one run against the selected stage,
// as cap staging deploy:new_release_path git:create_release does: one
// deploy lock decision, one release name, one log file and one report, so
// that tasks which need the run's release can be composed by hand. Each
// task runs with its hooks; the first failure stops the run and is
// handled as [Start] handles it. A task named twice, or reached by an
// earlier one, runs once (tasks run once per run). One task is [Start].
// It is the task target: mage staging task "deploy:new_release_path
// git:create_release".
func StartTasks(ctx context.Context, tasks []*Task, opts ...Option) error {
	return engine.StartTasks(ctx, tasks, opts...)
}

// TasksByName returns the tasks that names lists, separated by spaces or
// commas, in order: "deploy:new_release_path git:create_release". Each is
// found as [TaskByName] finds it; a name that is no task is refused,
// with the closest task name suggested, before anything runs.
func TasksByName(names string) ([]*Task, error) { return engine.TasksByName(names) }

// SetRevision records the revision the run deploys. Strategies call it
// once, after resolving the branch to a commit.
func SetRevision(ctx context.Context, rev Revision) error { return engine.SetRevision(ctx, rev) }

// DryRun reports whether the run of ctx prints commands instead of running
// them. Hooks that branch on Test or Capture results check it.
func DryRun(ctx context.Context) bool { return engine.DryRun(ctx) }
