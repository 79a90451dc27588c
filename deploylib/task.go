package deploylib

import (
	"context"
	"reflect"
	"runtime"
	"strings"
)

// Task is a named step of a flow, such as deploy:updating or
// git:create_release. Every standard task is an exported variable of this
// package, so hooks are attached to Go values, checked by the compiler.
// A task runs at most once per run unless re-invoked with [Reinvoke].
type Task struct {
	name string
	doc  string
	// steps are the sub-tasks the task invokes, in order. steps may depend
	// on the configuration (the strategy's tasks), hence a function.
	steps func(Config) []*Task
	// action runs after the before hooks and before the steps.
	action func(ctx context.Context) error
}

// NewTask returns a task named name (Capistrano style: "app:restart")
// that runs fn, and registers it as a team task: mage <stage> task
// app:restart and mage flow app:restart find it by name, and hooks hung on
// it with Before and After run whenever it runs. doc is its one-line
// description. Run it from a mage target with [Start]:
//
//	var AppRestart = deploylib.NewTask("app:restart", "restarts the app", restart)
//
//	type App mg.Namespace
//
//	// Restart restarts the app: mage production app:restart.
//	func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) }
func NewTask(name, doc string, fn func(ctx context.Context) error) *Task {
	t := &Task{name: name, doc: doc, action: fn}
	registerTeamTask(t) // teamtask.go
	return t
}

func newPhase(name, doc string, steps ...*Task) *Task {
	return &Task{name: name, doc: doc, steps: func(Config) []*Task { return steps }}
}

// Name returns the task's name, such as "deploy:updated".
func (t *Task) Name() string { return t.name }

// Doc returns the task's one-line description.
func (t *Task) Doc() string { return t.doc }

// String returns the task's name.
func (t *Task) String() string { return t.name }

// Hook is what Before and After accept: a plain function or another task.
type Hook interface {
	func(context.Context) error | *Task
}

// hook is one registered hook: a function or a task.
type hook struct {
	task *Task
	fn   func(context.Context) error
	name string // for flow output
}

func (h hook) label() string {
	if h.task != nil {
		return h.task.name
	}
	return h.name
}

type registry struct {
	before map[*Task][]hook
	steps  map[*Task][]hook // added with Append
	after  map[*Task][]hook
	team   []*Task // made with NewTask, in order (teamtask.go)
}

func newRegistry() registry {
	return registry{before: map[*Task][]hook{}, steps: map[*Task][]hook{}, after: map[*Task][]hook{}}
}

var hooks = newRegistry()

// Before hangs h on t: h runs every time t is invoked, before t's own work,
// after hooks registered earlier. Call it from init in the magefile.
func Before[H Hook](t *Task, h H) { register(hooks.before, t, h) }

// After hangs h on t: h runs every time t is invoked, after t's own work,
// after hooks registered earlier.
func After[H Hook](t *Task, h H) { register(hooks.after, t, h) }

// Append adds h as the last step of t: it runs at the end of t's own work,
// before t's After hooks, and mage flow shows it as one of t's steps rather
// than under [after]. Capistrano's example flow shows deploy:restart this
// way, as a step of deploy:publishing.
func Append[H Hook](t *Task, h H) { register(hooks.steps, t, h) }

func register[H Hook](m map[*Task][]hook, t *Task, h H) {
	if t == nil {
		panic("deploylib: hook registered on a nil task")
	}
	var hk hook
	switch v := any(h).(type) {
	case *Task:
		if v == nil {
			panic("deploylib: nil task registered as a hook on " + t.name)
		}
		hk = hook{task: v}
	case func(context.Context) error:
		if v == nil {
			panic("deploylib: nil function registered as a hook on " + t.name)
		}
		hk = hook{fn: v, name: funcName(v)}
	}
	regMu.Lock()
	defer regMu.Unlock()
	m[t] = append(m[t], hk)
}

// funcName returns "pkg.Func" for a function value.
func funcName(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// hooksOf returns copies of t's before hooks, appended steps and after
// hooks.
func hooksOf(t *Task) (before, steps, after []hook) {
	regMu.Lock()
	defer regMu.Unlock()
	return append([]hook(nil), hooks.before[t]...), append([]hook(nil), hooks.steps[t]...), append([]hook(nil), hooks.after[t]...)
}

// resetHooks removes every registered hook; tests use it.
func resetHooks() {
	regMu.Lock()
	defer regMu.Unlock()
	hooks = newRegistry()
}

// Invoke runs t within the current run, with its hooks, unless it already
// ran in this run. It is how a hook calls a task by hand.
func Invoke(ctx context.Context, t *Task) error {
	r, err := runOf(ctx)
	if err != nil {
		return err
	}
	return r.invoke(byHand(ctx), t, false)
}

// Reinvoke runs t again even if it already ran in this run (Capistrano's
// Rake::Task#reenable followed by invoke).
func Reinvoke(ctx context.Context, t *Task) error {
	r, err := runOf(ctx)
	if err != nil {
		return err
	}
	return r.invoke(byHand(ctx), t, true)
}
