package deploylib

import (
	"context"
	"io"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// Deployment is one application's deploy setup: its configuration, the
// stage chosen for this invocation, the hooks hung on tasks, the team's own
// tasks and the settings its hooks declare.
//
// A team's magefile fills the default Deployment through the package-level
// functions ([Configure], [UseStage], [Before], [After], [Append],
// [NewTask], [DeclareSetting]) and the mage targets start runs of it with
// [Start], as flag.CommandLine backs the flag package's functions. A test
// or a program that needs several setups side by side makes its own with
// [NewDeployment], and hangs hooks on it with [BeforeIn], [AfterIn] and
// [AppendIn].
//
// A run takes a snapshot of its Deployment when it starts: hooks
// registered or configuration set later do not change a run in flight.
// A Deployment is safe for use by several goroutines.
type Deployment = engine.Deployment

// NewDeployment returns an empty Deployment: no configuration, no stage,
// no hooks.
func NewDeployment() *Deployment { return engine.NewDeployment() }

// Configure sets the application's configuration. Call it from init in the
// magefile; a later call replaces the earlier one.
func Configure(c Config) { engine.Configure(c) }

// UseStage selects s as the stage of this mage invocation. A stage target
// calls it and does nothing else; connecting happens inside the flow.
// Selecting a second stage in one invocation is an error, reported when a
// flow starts.
func UseStage(s Stage) { engine.UseStage(s) }

// Before hangs h, a function or a task, on t in the default Deployment:
// h runs every time t is invoked, before t's own work, after the hooks
// registered earlier. Call it from init in the magefile:
//
//	deploylib.Before(deploylib.Starting, checkTicket) // func(context.Context) error
//	deploylib.Before(AppRestart, drainLoadBalancer)   // a task's own hooks
//
// [BeforeIn] does the same in a Deployment of its own.
func Before[H Hook](t *Task, h H) { engine.Before(t, h) }

// After hangs h, a function or a task, on t in the default Deployment: h
// runs every time t is invoked, after t's own work, after the hooks
// registered earlier. [AfterIn] does the same in a Deployment of its own.
func After[H Hook](t *Task, h H) { engine.After(t, h) }

// Append adds h, a function or a task, as the last step of t in the
// default Deployment: it runs at the end of t's own work, before t's After
// hooks, and mage flow shows it as one of t's steps rather than under
// [after]. Capistrano's example flow shows deploy:restart this way, as a
// step of deploy:publishing. [AppendIn] does the same in a Deployment of
// its own.
func Append[H Hook](t *Task, h H) { engine.Append(t, h) }

// BeforeIn hangs h on t in d, as [Before] does in the default Deployment.
// It is a function rather than a method of Deployment because Go methods
// cannot take a type parameter, and h is a function or a task.
func BeforeIn[H Hook](d *Deployment, t *Task, h H) { engine.BeforeIn(d, t, h) }

// AfterIn hangs h on t in d, as [After] does in the default Deployment.
func AfterIn[H Hook](d *Deployment, t *Task, h H) { engine.AfterIn(d, t, h) }

// AppendIn adds h as the last step of t in d, as [Append] does in the
// default Deployment.
func AppendIn[H Hook](d *Deployment, t *Task, h H) { engine.AppendIn(d, t, h) }

// NewTask returns a task named name (Capistrano style: "app:restart")
// that runs fn, and registers it as a team task: mage <stage> task
// app:restart and mage flow app:restart find it by name, mage tasks lists
// it with the first sentence of doc, and hooks hung on it with Before and
// After run whenever it runs. One declaration is enough:
//
//	var AppRestart = deploylib.NewTask("app:restart", "Restarts the app.", restart)
//
// A mage target that starts it with [Start] only adds mage production
// app:restart and a line in mage -l:
//
//	type App mg.Namespace
//
//	// Restart restarts the app: mage production app:restart.
//	func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) }
func NewTask(name string, doc string, fn func(ctx context.Context) error) *Task {
	return engine.NewTask(name, doc, fn)
}

// DeclareSetting declares key as a setting of Config.Settings that the
// team's hooks read with [Setting], so that the doctor (mage production
// doctor) does not report it as unknown (a likely typo). Call it from init in the magefile.
func DeclareSetting(key string, doc string) { engine.DeclareSetting(key, doc) }

// TaskByName returns the task the user names in mage flow <name> or mage
// <stage> task <name>: a standard task ("git:create_release"), a team task
// made with [NewTask] ("app:restart"), or a flow by its short name
// ("deploy", "rollback").
func TaskByName(name string) (*Task, error) { return engine.TaskByName(name) }

// PrintFlow writes the tree of tasks that invoking root runs, with every
// registered hook under [before] and [after], in the format of
// Capistrano's flow documentation, then deploy:failed with its hooks.
// Strategy-dependent steps follow the configuration passed to
// [Configure], with the stage's overrides when a stage was selected
// (mage production flow deploy). Hooks hung on tasks that no flow runs are
// listed last, and make it return an error (the runs refuse them too).
func PrintFlow(w io.Writer, root *Task) error { return engine.PrintFlow(w, root) }

// Dir says in which directory a [RemoteTask]'s command runs: [InRelease],
// [InCurrent], [InLogin] or [InDir].
type Dir = engine.Dir

var (
	// InRelease runs the command in the release this run deploys or rolls
	// back to ([Host.ReleasePath]): hang it after deploy:updated (or any
	// task after deploy:new_release_path). Before the release is named it
	// is current, Capistrano's rule.
	InRelease = engine.InRelease
	// InCurrent runs the command in <deploy_to>/current.
	InCurrent = engine.InCurrent
	// InLogin runs the command in the login directory of the SSH user.
	InLogin = engine.InLogin
)

// InDir runs the command in path, on every selected host.
func InDir(path string) Dir { return engine.InDir(path) }

// RemoteTask returns a task named name that runs command with args (each
// quoted, as [Host.Execute] does) in dir on the hosts hosts selects, and
// registers it as a team task (mage <stage> task <name> runs it). Hang it
// with [Before], [After] or [Append]: next to standard tasks it runs inside
// their remote script on each host and costs no round trip of its own,
// where a Go function hook is a barrier (docs/hooks.md). It fails as a
// standard task does: its host, command and exit status are named and
// deploy:failed runs.
//
//	restart := deploylib.RemoteTask("app:restart", "Restarts the app.",
//		deploylib.Roles("app"), deploylib.InCurrent, "touch", "tmp/restart.txt")
//	deploylib.After(deploylib.Published, restart)
//
// The selector picks among the run's hosts; a selection with a NoRelease
// server runs on its own, as a barrier, since the scripts run on the
// release hosts.
func RemoteTask(name string, doc string, hosts Selector, dir Dir, command string, args ...string) *Task {
	return engine.RemoteTask(name, doc, hosts, dir, command, args...)
}

// RemoteSh is [RemoteTask] for a shell line, read by the shell on the
// server as [Host.Sh] reads it (operators, pipes, globs and variables
// work; nothing in it is quoted, so build it only from values the team
// controls).
func RemoteSh(name string, doc string, hosts Selector, dir Dir, line string) *Task {
	return engine.RemoteSh(name, doc, hosts, dir, line)
}

// Task is a named step of a flow, such as deploy:updating or
// git:create_release. Every standard task is an exported variable of this
// package, so hooks are attached to Go values, checked by the compiler.
// A task runs at most once per run unless re-invoked with [Reinvoke].
type Task = engine.Task

// Hook is what Before and After accept: a plain function or another task.
type Hook = engine.Hook

// Invoke runs t within the current run, with its hooks, unless it already
// ran in this run. It is how a hook calls a task by hand.
func Invoke(ctx context.Context, t *Task) error { return engine.Invoke(ctx, t) }

// Reinvoke runs t again even if it already ran in this run (Capistrano's
// Rake::Task#reenable followed by invoke).
func Reinvoke(ctx context.Context, t *Task) error { return engine.Reinvoke(ctx, t) }
