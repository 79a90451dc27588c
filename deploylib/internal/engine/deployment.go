package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
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
type Deployment struct {
	mu       sync.Mutex
	config   Config
	stage    *Stage
	stageErr error // a second UseStage, reported when a run starts
	hooks    hookSet
	team     []*Task           // made with NewTask, in order
	settings map[string]string // declared Config.Settings keys and their documentation

	getenv func(string) string     // tests: the environment a run reads, instead of os.Getenv
	clock  func() func() time.Time // tests: each run's clock when no WithClock is given, instead of time.Now
}

// NewDeployment returns an empty Deployment: no configuration, no stage,
// no hooks.
func NewDeployment() *Deployment {
	return &Deployment{
		hooks:    hookSet{before: map[*Task][]hook{}, steps: map[*Task][]hook{}, after: map[*Task][]hook{}},
		settings: maps.Clone(capstanSettings), // settings.go
	}
}

// defaultDeployment is the Deployment of the package-level functions.
var defaultDeployment = NewDeployment()

// Configure sets the application's configuration; a later call replaces
// the earlier one.
func (d *Deployment) Configure(c Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.config = c
}

// UseStage selects s as the stage that runs deploy to. Selecting a second
// stage is an error, reported when a run starts.
func (d *Deployment) UseStage(s Stage) {
	if s.Name == "" {
		s.Name = targetName() // stage.go
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stage != nil && d.stageErr == nil {
		d.stageErr = fmt.Errorf("two stages selected (%s and %s): run one stage per command, e.g. mage %s deploy", d.stage.Name, s.Name, d.stage.Name)
		return
	}
	d.stage = &s
}

func (d *Deployment) register(kind hookKind, t *Task, h hook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hooks.add(kind, t, h)
}

// NewTask returns a task named name that runs fn, and registers it as a
// team task of d (see the package-level [NewTask]).
func (d *Deployment) NewTask(name, doc string, fn func(ctx context.Context) error) *Task {
	t := &Task{name: name, doc: doc, action: fn}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A later task of the same name replaces an earlier one.
	d.team = slices.DeleteFunc(d.team, func(o *Task) bool { return o.name == name })
	d.team = append(d.team, t)
	return t
}

// DeclareSetting declares key as a setting of Config.Settings that the
// team's hooks read with [Setting] (see the package-level [DeclareSetting]).
func (d *Deployment) DeclareSetting(key, doc string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.settings[key] = doc
}

// TaskByName returns the task called name: a standard task
// ("git:create_release"), one of d's team tasks ("app:restart"), or a
// flow by its short name ("deploy", "rollback").
func (d *Deployment) TaskByName(name string) (*Task, error) {
	return d.snapshot().taskByName(name)
}

// Start runs task, with its hooks and sub-tasks, against d's stage (see
// the package-level [Start]).
func (d *Deployment) Start(ctx context.Context, task *Task, opts ...Option) error {
	return Start(ctx, task, append(opts, withDeployment(d))...)
}

// PrintFlow writes the tree of tasks that invoking root runs, with d's
// hooks (see the package-level [PrintFlow]).
func (d *Deployment) PrintFlow(w io.Writer, root *Task) error {
	return d.snapshot().printFlow(w, root)
}

// The operator tools, on d's stage and configuration: see the
// package-level functions of the same names in package deploylib. Package
// ops installs them (InstallTools, session.go).

// Diagnose runs the doctor on d's stage (see deploylib.Diagnose).
func (d *Deployment) Diagnose(ctx context.Context, opts ...Option) error {
	return tools.Diagnose(ctx, append(opts, withDeployment(d))...)
}

// ShowReleases prints each host's releases (see deploylib.ShowReleases).
func (d *Deployment) ShowReleases(ctx context.Context, opts ...Option) error {
	return tools.ShowReleases(ctx, append(opts, withDeployment(d))...)
}

// ShowConfig prints the resolved configuration (see deploylib.ShowConfig).
func (d *Deployment) ShowConfig(ctx context.Context, opts ...Option) error {
	return tools.ShowConfig(ctx, append(opts, withDeployment(d))...)
}

// RunAdHoc runs command on the selected hosts (see deploylib.RunAdHoc).
func (d *Deployment) RunAdHoc(ctx context.Context, command string, opts ...Option) error {
	return tools.RunAdHoc(ctx, command, append(opts, withDeployment(d))...)
}

// OpenShell opens an interactive shell on a host (see deploylib.OpenShell).
func (d *Deployment) OpenShell(ctx context.Context, host string, opts ...Option) error {
	return tools.OpenShell(ctx, host, append(opts, withDeployment(d))...)
}

// FollowLog follows file on the selected hosts (see deploylib.FollowLog).
func (d *Deployment) FollowLog(ctx context.Context, file string, opts ...Option) error {
	return tools.FollowLog(ctx, file, append(opts, withDeployment(d))...)
}

// DownloadFiles copies remote from d's selected hosts (see
// [DownloadFiles]).
func (d *Deployment) DownloadFiles(ctx context.Context, remote, localDir string, opts ...Option) error {
	return tools.DownloadFiles(ctx, remote, localDir, append(opts, withDeployment(d))...)
}

// setup is what a run sees of its Deployment: a snapshot taken when the
// run starts.
type setup struct {
	config   Config
	stage    *Stage
	stageErr error
	hooks    hookSet
	team     []*Task
	settings map[string]string
}

// snapshot copies d's state, so that a run in flight never sees a later
// registration.
func (d *Deployment) snapshot() *setup {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &setup{
		config:   d.config,
		stageErr: d.stageErr,
		hooks:    d.hooks.clone(),
		team:     slices.Clone(d.team),
		settings: maps.Clone(d.settings),
	}
	if d.stage != nil {
		st := *d.stage
		s.stage = &st
	}
	return s
}

// selectedStage returns the stage chosen with UseStage, or an error saying
// how to choose one.
func (s *setup) selectedStage() (Stage, error) {
	if s.stageErr != nil {
		return Stage{}, s.stageErr
	}
	if s.stage == nil {
		return Stage{}, fmt.Errorf("no stage selected: name one before the task, e.g. mage production deploy (stages are the targets of your stages package, see mage -l; from Go code, pass deploylib.WithStage)")
	}
	return *s.stage, nil
}

// The package-level functions: thin wrappers over the default Deployment.

// Configure sets the application's configuration. Call it from init in the
// magefile; a later call replaces the earlier one.
func Configure(c Config) { defaultDeployment.Configure(c) }

// UseStage selects s as the stage of this mage invocation. A stage target
// calls it and does nothing else; connecting happens inside the flow.
// Selecting a second stage in one invocation is an error, reported when a
// flow starts.
func UseStage(s Stage) { defaultDeployment.UseStage(s) }

// Before hangs h, a function or a task, on t in the default Deployment:
// h runs every time t is invoked, before t's own work, after the hooks
// registered earlier. Call it from init in the magefile:
//
//	deploylib.Before(deploylib.Starting, checkTicket) // func(context.Context) error
//	deploylib.Before(AppRestart, drainLoadBalancer)   // a task's own hooks
//
// [BeforeIn] does the same in a Deployment of its own.
func Before[H Hook](t *Task, h H) { BeforeIn(defaultDeployment, t, h) }

// After hangs h, a function or a task, on t in the default Deployment: h
// runs every time t is invoked, after t's own work, after the hooks
// registered earlier. [AfterIn] does the same in a Deployment of its own.
func After[H Hook](t *Task, h H) { AfterIn(defaultDeployment, t, h) }

// Append adds h, a function or a task, as the last step of t in the
// default Deployment: it runs at the end of t's own work, before t's After
// hooks, and mage flow shows it as one of t's steps rather than under
// [after]. Capistrano's example flow shows deploy:restart this way, as a
// step of deploy:publishing. [AppendIn] does the same in a Deployment of
// its own.
func Append[H Hook](t *Task, h H) { AppendIn(defaultDeployment, t, h) }

// BeforeIn hangs h on t in d, as [Before] does in the default Deployment.
// It is a function rather than a method of Deployment because Go methods
// cannot take a type parameter, and h is a function or a task.
func BeforeIn[H Hook](d *Deployment, t *Task, h H) { d.register(hookBefore, t, hookOf(t, h)) }

// AfterIn hangs h on t in d, as [After] does in the default Deployment.
func AfterIn[H Hook](d *Deployment, t *Task, h H) { d.register(hookAfter, t, hookOf(t, h)) }

// AppendIn adds h as the last step of t in d, as [Append] does in the
// default Deployment.
func AppendIn[H Hook](d *Deployment, t *Task, h H) { d.register(hookStep, t, hookOf(t, h)) }

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
func NewTask(name, doc string, fn func(ctx context.Context) error) *Task {
	return defaultDeployment.NewTask(name, doc, fn)
}

// DeclareSetting declares key as a setting of Config.Settings that the
// team's hooks read with [Setting], so that the doctor (mage production
// doctor) does not report it as unknown (a likely typo). Call it from init in the magefile.
func DeclareSetting(key, doc string) { defaultDeployment.DeclareSetting(key, doc) }

// TaskByName returns the task the user names in mage flow <name> or mage
// <stage> task <name>: a standard task ("git:create_release"), a team task
// made with [NewTask] ("app:restart"), or a flow by its short name
// ("deploy", "rollback").
func TaskByName(name string) (*Task, error) { return defaultDeployment.TaskByName(name) }

// PrintFlow writes the tree of tasks that invoking root runs, with every
// registered hook under [before] and [after], in the format of
// Capistrano's flow documentation, then deploy:failed with its hooks.
// Strategy-dependent steps follow the configuration passed to
// [Configure], with the stage's overrides when a stage was selected
// (mage production flow deploy). Hooks hung on tasks that no flow runs are
// listed last, and make it return an error (the runs refuse them too).
func PrintFlow(w io.Writer, root *Task) error { return defaultDeployment.PrintFlow(w, root) }
