package engine

import (
	"context"
	"reflect"
	"runtime"
	"slices"
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
	// plan is a standard task's definition: its command on each host and
	// what to make of the answers (plan.go runs it alone or in a script).
	plan stepBuilder
	// action runs, after the steps, what a task without a plan does.
	action func(ctx context.Context) error
	// declarative: the task was made by RemoteTask or RemoteSh. Hung as
	// a hook it takes its place in the planner's flow, where any other
	// hook is a barrier (plan.go flatten).
	declarative bool
}

// runs reports whether t does something of its own, beyond its steps.
func (t *Task) runs() bool { return t.plan != nil || t.action != nil }

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

// inline reports whether the planner may fuse h into the scripts around
// it: a declarative task, whose command is known ahead.
func (h hook) inline() bool { return h.task != nil && h.task.declarative }

func (h hook) label() string {
	if h.task != nil {
		return h.task.name
	}
	return h.name
}

// hookKind says where a hook runs: before its task, as its last step, or
// after it.
type hookKind int

const (
	hookBefore hookKind = iota
	hookStep            // added with Append
	hookAfter
)

// hookSet is the hooks hung on tasks, by kind.
type hookSet struct {
	before map[*Task][]hook
	steps  map[*Task][]hook
	after  map[*Task][]hook
}

func (s hookSet) add(kind hookKind, t *Task, h hook) {
	m := s.of(kind)
	m[t] = append(m[t], h)
}

func (s hookSet) of(kind hookKind) map[*Task][]hook {
	switch kind {
	case hookBefore:
		return s.before
	case hookStep:
		return s.steps
	default:
		return s.after
	}
}

// clone returns a copy of s that later registrations do not change.
func (s hookSet) clone() hookSet {
	c := func(m map[*Task][]hook) map[*Task][]hook {
		out := make(map[*Task][]hook, len(m))
		for t, hs := range m {
			out[t] = slices.Clone(hs)
		}
		return out
	}
	return hookSet{before: c(s.before), steps: c(s.steps), after: c(s.after)}
}

// on returns t's before hooks, appended steps and after hooks.
func (s hookSet) on(t *Task) (before, steps, after []hook) {
	return s.before[t], s.steps[t], s.after[t]
}

// hookOf makes a hook of a function or a task hung on t.
func hookOf[H Hook](t *Task, h H) hook {
	switch v := any(h).(type) {
	case *Task:
		return taskHook(t, v)
	default:
		return funcHook(t, any(h).(func(context.Context) error))
	}
}

func taskHook(t, h *Task) hook {
	if t == nil {
		panic("deploylib: hook registered on a nil task")
	}
	if h == nil {
		panic("deploylib: nil task registered as a hook on " + t.name)
	}
	return hook{task: h}
}

func funcHook(t *Task, fn func(context.Context) error) hook {
	if t == nil {
		panic("deploylib: hook registered on a nil task")
	}
	if fn == nil {
		panic("deploylib: nil function registered as a hook on " + t.name)
	}
	return hook{fn: fn, name: funcName(fn)}
}

// funcName returns "pkg.Func" for a function value.
func funcName(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return name
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
