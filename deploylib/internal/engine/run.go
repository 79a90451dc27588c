package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/capstan-deploy/capstan/deploylib/internal/freshness"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/console"
)

// Run is one invocation of a flow or task against a stage: the stage and
// configuration, the selected hosts, the release name and the revision.
// Tasks and hooks reach it with [CurrentRun]; it is never a global, so
// parallel hosts cannot overwrite each other's view. Beyond that view the
// run's state is held by its owners (the per-host state, the lock, the
// planner, the interrupts, the connections, the log), each in the file of
// its concern.
type Run struct {
	// ID identifies the run in locks and logs.
	ID string
	// Stage is the selected stage.
	Stage Stage
	// Config is the configuration with the stage's overrides applied.
	Config Config
	// User is who runs the deploy (USER, else LOGNAME), as revisions.log
	// records it.
	User string
	// Started is when the run began.
	Started time.Time

	hosts          []*Host
	filter         string // "HOSTS=web1 ROLES=app", the filters that chose hosts (selectwarn.go)
	dryRun         bool
	console        *console.Console
	root           *Task
	tasks          []*Task // the tasks the run was started with, in order (root alone, or StartTasks's)
	now            func() time.Time
	env            runEnv              // the environment, read when the run started
	getenv         func(string) string // the environment's reader: the deployer's secrets (WithSecretFromEnv)
	setup          *setup              // the Deployment as the run started
	cleanupTimeout time.Duration       // the budget of the work after a failure

	state hostStates // per host (hoststate.go)

	// The rest of the run's state, each part with its owner.
	invoked  invocations       // the tasks invoked so far
	release  guarded[string]   // the release this run deploys or rolls back to
	revision guarded[Revision] // the revision, once the strategy resolved it
	pinned   guarded[string]   // the commit git:check pinned (git.go)
	warnings filterWarnings    // selectors the filters left without hosts (selectwarn.go)
	intr     *interrupts       // signals received (interrupt.go)
	log      runLog            // the log file and the report at the end (logfile.go)
	lock     lockKeeper        // the deploy lock (lock.go)
	dialer   dialer            // the connections to the hosts (dial.go)
	plan     planner           // runs hook-free standard tasks as one script per host (plan.go)
}

// invocations owns which tasks the run invoked: a task runs once per run
// unless invoked again by hand (Reinvoke).
type invocations struct {
	mu   sync.Mutex
	done map[*Task]bool
}

// start records that t is invoked; it reports false when t was invoked
// already and again is not set.
func (v *invocations) start(t *Task, again bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done[t] && !again {
		return false
	}
	v.done[t] = true
	return true
}

// was reports whether t was invoked.
func (v *invocations) was(t *Task) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.done[t]
}

// guarded is a value of the run that tasks on several hosts read while
// one of them may set it.
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *guarded[T]) get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

func (g *guarded[T]) set(v T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v = v
}

// Revision is the commit being deployed.
type Revision struct {
	// Branch is the branch, tag or commit the user asked for.
	Branch string
	// SHA is the full commit id, resolved once per run.
	SHA string
	// Time is the commit time in unix seconds (REVISION_TIME).
	Time int64
	// Dirty says the release was built from a working tree with
	// uncommitted changes (Upload with Dir): REVISION and revisions.log
	// record the SHA with "-dirty" appended, as git describe --dirty does.
	Dirty bool
}

// Recorded returns the revision as REVISION and revisions.log record it:
// the SHA, with "-dirty" appended for a dirty working tree.
func (rev Revision) Recorded() string {
	if rev.Dirty {
		return rev.SHA + "-dirty"
	}
	return rev.SHA
}

type runKey struct{}

// CurrentRun returns the run that ctx belongs to, or nil outside a run.
func CurrentRun(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}

func runOf(ctx context.Context) (*Run, error) {
	r := CurrentRun(ctx)
	if r == nil {
		return nil, errOutsideRun
	}
	return r, nil
}

// Option changes how [Start] runs.
type Option func(*runOptions)

type runOptions struct {
	stage   *Stage
	out     io.Writer
	color   *bool
	dryRun  bool
	dial    func(ctx context.Context, s Server) (backend.Conn, error)
	now     func() time.Time
	verbose bool
	runID   string
	logFile *string // WithLogFile (logfile.go)
	root    *Task   // the task Start runs
	deploy  *Deployment
	logW    io.Writer // tests: the log goes here instead of a file

	heartbeatEvery time.Duration // tests: a faster lock heartbeat
	heartbeats     chan struct{} // tests: told after every heartbeat round
	cleanupTimeout time.Duration // tests: a shorter budget after a failure
	unfused        bool          // tests: every task alone, no script (plan.go)
}

// withDeployment runs d instead of the default Deployment.
func withDeployment(d *Deployment) Option { return func(o *runOptions) { o.deploy = d } }

// WithStage runs against s instead of the stage chosen with UseStage.
func WithStage(s Stage) Option { return func(o *runOptions) { o.stage = &s } }

// WithOutput sends the console output to w (default os.Stdout).
func WithOutput(w io.Writer) Option { return func(o *runOptions) { o.out = w } }

// WithColor forces colour on or off.
func WithColor(on bool) Option { return func(o *runOptions) { o.color = &on } }

// WithDryRun prints every command instead of running it.
func WithDryRun() Option { return func(o *runOptions) { o.dryRun = true } }

// WithVerbose also shows test and capture commands.
func WithVerbose() Option { return func(o *runOptions) { o.verbose = true } }

// WithDialer connects to servers with dial instead of SSH or the local
// shell. Tests use it with the Recorder backend.
func WithDialer(dial func(ctx context.Context, s Server) (backend.Conn, error)) Option {
	return func(o *runOptions) { o.dial = dial }
}

// WithClock fixes the time the run sees (release names, elapsed times).
func WithClock(now func() time.Time) Option { return func(o *runOptions) { o.now = now } }

// Start runs task, with its hooks and sub-tasks, against the selected
// stage. When anything fails it returns the error, naming the task and
// host, after the failure handling: for the deploy and rollback flows
// [Failed] with its hooks; for any other task Failed's own work alone
// (removing the release the run half-built), without the hooks, as in
// Capistrano. It is what the mage targets call.
func Start(ctx context.Context, task *Task, opts ...Option) error {
	r, err := newRun(append(opts, withRoot(task))...)
	if err != nil {
		return err
	}
	defer r.close()
	return r.execute(ctx, task)
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
	if len(tasks) == 0 {
		return errors.New("task: name at least one task")
	}
	for i, t := range tasks {
		if t == nil {
			return fmt.Errorf("task: task %d of %d is nil", i+1, len(tasks))
		}
		if t == Unlock && len(tasks) > 1 {
			return fmt.Errorf("task: %s clears another run's lock; run it on its own, not with other tasks", Unlock.name)
		}
	}
	if len(tasks) == 1 {
		return Start(ctx, tasks[0], opts...)
	}
	root := sequence(tasks)
	r, err := newRun(append(opts, withRoot(root))...)
	if err != nil {
		return err
	}
	defer r.close()
	r.tasks = tasks
	return r.execute(ctx, root)
}

// StartTasks runs tasks in order as one run against d's stage (see the
// package-level [StartTasks]).
func (d *Deployment) StartTasks(ctx context.Context, tasks []*Task, opts ...Option) error {
	return StartTasks(ctx, tasks, append(opts, withDeployment(d))...)
}

// sequence returns the task that invokes tasks in order: the root of a
// run of several tasks, named after them.
func sequence(tasks []*Task) *Task {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.name
	}
	steps := slices.Clone(tasks)
	return &Task{name: strings.Join(names, " "), doc: "the tasks named on the command line, in order",
		steps: func(Config) []*Task { return steps }}
}

// TasksByName returns the tasks that names lists, separated by spaces or
// commas, in order: "deploy:new_release_path git:create_release". Each is
// found as [TaskByName] finds it; a name that is no task is refused,
// with the closest task name suggested, before anything runs.
func TasksByName(names string) ([]*Task, error) { return defaultDeployment.TasksByName(names) }

// TasksByName returns the tasks that names lists, among d's (see the
// package-level [TasksByName]).
func (d *Deployment) TasksByName(names string) ([]*Task, error) {
	return d.snapshot().tasksByName(names)
}

func (s *setup) tasksByName(names string) ([]*Task, error) {
	fields := strings.FieldsFunc(names, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	if len(fields) == 0 {
		return nil, errors.New(`name a task, or several separated by spaces or commas: mage production task "deploy:new_release_path git:create_release"`)
	}
	var tasks []*Task
	for _, name := range fields {
		t, err := s.taskByName(name)
		if err != nil {
			if best := s.closestTask(name); best != "" {
				return nil, fmt.Errorf("%w (did you mean %s?)", err, best)
			}
			return nil, err
		}
		if !slices.Contains(tasks, t) {
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// closestTask returns the task name nearest to name, "" when none is
// near enough to be a likely misspelling.
func (s *setup) closestTask(name string) string {
	candidates := []string{"rollback"}
	for _, t := range standardTasks() {
		candidates = append(candidates, t.name)
	}
	for _, t := range s.team {
		candidates = append(candidates, t.name)
	}
	best, bestD := "", 0
	for _, c := range candidates {
		if d := editDistance(name, c); best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > max(2, len(name)/3) {
		return ""
	}
	return best
}

// rollsBack reports whether the run rolls back: the rollback flow, or
// tasks named by hand that chose a release to roll back to
// (deploy:revert_release). Its release is then an existing one, never
// the run's own, and revisions.log records a rollback, as Capistrano
// decides by the rollback target being set.
func (r *Run) rollsBack() bool {
	return slices.Contains(r.tasks, Rollback) || r.invoked.was(RevertRelease)
}

// withRoot names the task a run starts, so that hooks hung on it count as
// reachable even when no flow runs it.
func withRoot(t *Task) Option { return func(o *runOptions) { o.root = t } }

// newRun starts a run of the Deployment the options name (the default
// one): a snapshot of its setup, the environment read once, the stage's
// hosts filtered, the console and the log opened.
func newRun(opts ...Option) (*Run, error) {
	o := runOptions{out: os.Stdout, deploy: defaultDeployment}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
		if o.deploy.clock != nil {
			o.now = o.deploy.clock()
		}
	}
	// Hosts read the clock at once (plan.go times each step of a script
	// as its end arrives): a clock given with WithClock need not be safe
	// for that.
	now, clockMu := o.now, new(sync.Mutex)
	o.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now()
	}
	setup := o.deploy.snapshot()
	getenv := envReader(o.deploy.getenv)            // env.go
	if err := freshness.Check(getenv); err != nil { // a magefile binary older than its sources
		return nil, err
	}
	env := readEnv(getenv)
	if env.dryRun {
		o.dryRun = true
	}
	var st Stage
	if o.stage != nil {
		st = *o.stage
	} else {
		var err error
		if st, err = setup.selectedStage(); err != nil {
			return nil, err
		}
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	cfg := setup.config.withDefaults(st)
	configured := cfg.Branch
	if env.branch != "" { // Capistrano's BRANCH=feature-x cap staging deploy
		cfg.Branch = env.branch
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	servers, err := filterServers(st.Servers, env.hosts, env.roles)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	if err := setup.checkHookTargets(cfg, o.root); err != nil {
		return nil, err
	}
	colorOn := console.WantColor(o.out, env.color)
	if o.color != nil {
		colorOn = *o.color
	}
	verbose := o.verbose || env.verbose
	started := o.now().UTC()
	id := cmp.Or(o.runID, newRunID())
	logW, logPath, logFile, logProblem := setupLog(&o, cfg, env.logFile) // logfile.go
	c := console.New(o.out, console.Options{Color: colorOn, Verbose: verbose, Now: o.now, Redact: redact,
		Log: logW, RunID: id, Width: console.AutoWidth(o.out)})
	r := &Run{
		ID:             id,
		Stage:          st,
		Config:         cfg,
		User:           currentUser(env),
		Started:        started,
		dryRun:         o.dryRun,
		console:        c,
		log:            runLog{console: c, path: logPath, file: logFile, dryRun: o.dryRun, started: started, now: o.now},
		now:            o.now,
		env:            env,
		getenv:         getenv,
		plan:           planner{unfused: o.unfused},
		lock:           lockKeeper{every: cmp.Or(o.heartbeatEvery, lockHeartbeatEvery), beats: o.heartbeats},
		cleanupTimeout: cmp.Or(o.cleanupTimeout, cleanupTimeout),
		invoked:        invocations{done: map[*Task]bool{}},
		warnings:       filterWarnings{filter: describeFilters(env.hosts, env.roles), servers: st.Servers, console: c},
		state:          hostStates{},
		dialer:         dialer{dial: o.dial, printOnly: o.dryRun, conns: map[*Host]*hostConn{}},
		filter:         describeFilters(env.hosts, env.roles),
		setup:          setup,
	}
	for _, s := range servers {
		addr, _ := ParseAddress(s.Host)
		h := &Host{Server: s, Address: addr, run: r}
		r.hosts = append(r.hosts, h)
		r.state[h] = &hostState{}
		r.dialer.conns[h] = &hostConn{}
	}
	r.lock.r, r.plan.r = r, r
	if r.dialer.dial == nil {
		r.dialer.dial = defaultDial(r.Stage.SSH, r.console.Warn)
	}
	if o.dryRun {
		// The console shows and logs each command in its numbered format
		// (host.go runCommand); the Printer runs nothing.
		r.dialer.dial = func(ctx context.Context, s Server) (backend.Conn, error) {
			return &backend.Printer{Host: s.Host, W: io.Discard}, nil
		}
	}
	if logProblem != nil {
		r.console.Warn("%v", logProblem)
	}
	if cfg.Branch != configured {
		r.console.Info("branch %s, from BRANCH (the configuration says %s)", cfg.Branch, configured)
	}
	return r, nil
}

func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// currentUser is who runs the deploy, for revisions.log and the lock:
// $USER, $LOGNAME, or on Windows $USERNAME (the account without its
// domain, where user.Current says DOMAIN\name).
func currentUser(env runEnv) string {
	if env.user != "" {
		return env.user
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// shortSHA shortens a commit id to 12 characters; anything else (a dry
// run's placeholder) is returned whole.
func shortSHA(s string) string {
	if len(s) > 12 && strings.Trim(s, "0123456789abcdef") == "" {
		return s[:12]
	}
	return s
}

// invoke runs t with its hooks; once per run unless again is set.
func (r *Run) invoke(ctx context.Context, t *Task, again bool) error {
	if !r.invoked.start(t, again) {
		return nil
	}

	before, appended, after := r.setup.hooks.on(t)
	for _, h := range before {
		if err := r.runHook(ctx, h); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return &TaskError{Task: t.name, Err: fmt.Errorf("interrupted: %w", err)}
	}
	if t.steps != nil {
		for _, s := range t.steps(r.Config) {
			if err := r.invoke(ctx, s, false); err != nil {
				return err
			}
		}
	}
	if t.runs() {
		r.console.Task(t.name)
		if err := r.plan.act(ctx, t); err != nil { // plan.go
			return wrapTask(t.name, err)
		}
	}
	for _, h := range append(appended, after...) {
		if err := r.runHook(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

func (r *Run) runHook(ctx context.Context, h hook) error {
	if h.inline() {
		// Its step has its place in the planner's flow (plan.go flatten).
		return r.invoke(ctx, h.task, false)
	}
	if h.task != nil {
		return r.invoke(byHand(ctx), h.task, false)
	}
	if err := ctx.Err(); err != nil {
		return &TaskError{Task: h.name, Err: fmt.Errorf("interrupted: %w", err)}
	}
	r.console.Task(h.name)
	if err := h.fn(ctx); err != nil {
		return wrapTask(h.name, err)
	}
	return nil
}

// wrapTask names the innermost failing task only.
func wrapTask(name string, err error) error {
	var te *TaskError
	if errors.As(err, &te) {
		return err
	}
	return &TaskError{Task: name, Err: err}
}

// close closes every connection the run opened.
func (r *Run) close() {
	r.lock.stopHeartbeat()
	r.dialer.close()
	r.log.close()
}

// Hosts returns the run's hosts after the HOSTS and ROLES filters.
func (r *Run) Hosts() []*Host { return append([]*Host(nil), r.hosts...) }

// ReleaseName returns the release this run deploys or rolls back to, "" if
// not chosen yet.
func (r *Run) ReleaseName() string { return r.release.get() }

// Revision returns the revision resolved for this run (zero until the
// strategy resolved it).
func (r *Run) Revision() Revision { return r.revision.get() }

// SetRevision records the revision the run deploys. Strategies call it
// once, after resolving the branch to a commit.
func SetRevision(ctx context.Context, rev Revision) error {
	r, err := runOf(ctx)
	if err != nil {
		return err
	}
	r.revision.set(rev)
	return nil
}

// DryRun reports whether the run of ctx prints commands instead of running
// them. Hooks that branch on Test or Capture results check it.
func DryRun(ctx context.Context) bool {
	r := CurrentRun(ctx)
	return r != nil && r.dryRun
}

// Paths on the servers, all derived from DeployTo (Capistrano's layout).

// layout is the directory layout of the run's deploy_to.
func (r *Run) layout() remote.Layout { return remote.At(r.Config.DeployTo) }

// ReleasesPath returns <deploy_to>/releases.
func (r *Run) ReleasesPath() string { return r.layout().Releases() }

// SharedPath returns <deploy_to>/shared.
func (r *Run) SharedPath() string { return r.layout().Shared() }

// CurrentPath returns <deploy_to>/current.
func (r *Run) CurrentPath() string { return r.layout().Current() }

// RepoPath returns <deploy_to>/repo, the git mirror.
func (r *Run) RepoPath() string { return r.layout().Repo() }

// RevisionLogPath returns <deploy_to>/revisions.log.
func (r *Run) RevisionLogPath() string { return r.layout().RevisionsLog() }

// ReleasePath returns the directory of the release this run deploys or
// rolls back to, or current when none is chosen yet (Capistrano's rule).
func (r *Run) ReleasePath() string {
	if rel := r.ReleaseName(); rel != "" {
		return r.layout().Release(rel)
	}
	return r.CurrentPath()
}
