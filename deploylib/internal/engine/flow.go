package engine

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// printFlow writes the tree of tasks that invoking root runs with s's
// hooks, then, for the deploy and rollback flows, deploy:failed with its
// hooks, then the hooks no flow runs (and returns an error for them). The strategy-dependent steps follow the
// configuration with the selected stage's overrides, when a stage was
// selected (mage production flow deploy).
func (s *setup) printFlow(w io.Writer, root *Task) error {
	st, _ := s.selectedStage()
	cfg := s.config.withDefaults(st)
	var b strings.Builder
	s.printTask(&b, cfg, root, 0, map[*Task]bool{})
	if root == Deploy || root == Rollback {
		// deploy:failed runs when a task of the deploy or rollback flow
		// fails (lifecycle.go recoverFailure): its hooks (a failure
		// notifier) belong to these flows, not to a task run alone.
		b.WriteString("(when a task above fails)\n")
		s.printTask(&b, cfg, Failed, 0, map[*Task]bool{})
	}
	orphans := s.orphanHooks(cfg, root)
	if len(orphans) > 0 {
		b.WriteString("(never run: hung on tasks that no flow runs; every run refuses to start)\n")
		for _, o := range orphans {
			b.WriteString("  " + o.String() + "\n")
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(orphans) > 0 {
		return orphans[0].err(cfg, len(orphans))
	}
	return nil
}

func (s *setup) printTask(b *strings.Builder, cfg Config, t *Task, depth int, path map[*Task]bool) {
	indent := strings.Repeat("  ", depth)
	b.WriteString(indent + t.name + "\n")
	if path[t] {
		return // a hook cycle; the engine's once-only rule stops it too
	}
	path[t] = true
	defer delete(path, t)
	before, appended, after := s.hooks.on(t)
	s.printHooks(b, cfg, "[before]", before, depth+1, path)
	if t.steps != nil {
		for _, st := range t.steps(cfg) {
			s.printTask(b, cfg, st, depth+1, path)
		}
	}
	s.printHookList(b, cfg, appended, depth+1, path)
	s.printHooks(b, cfg, "[after]", after, depth+1, path)
}

func (s *setup) printHooks(b *strings.Builder, cfg Config, label string, hs []hook, depth int, path map[*Task]bool) {
	if len(hs) == 0 {
		return
	}
	b.WriteString(strings.Repeat("  ", depth) + label + "\n")
	s.printHookList(b, cfg, hs, depth+1, path)
}

func (s *setup) printHookList(b *strings.Builder, cfg Config, hs []hook, depth int, path map[*Task]bool) {
	for _, h := range hs {
		if h.task != nil {
			s.printTask(b, cfg, h.task, depth, path)
		} else {
			b.WriteString(strings.Repeat("  ", depth) + h.name + "\n")
		}
	}
}

// reachable adds t, its steps and its hooks' tasks to seen.
func (s *setup) reachable(cfg Config, t *Task, seen map[*Task]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	before, appended, after := s.hooks.on(t)
	for _, h := range append(append(before, appended...), after...) {
		if h.task != nil {
			s.reachable(cfg, h.task, seen)
		}
	}
	if t.steps != nil {
		for _, st := range t.steps(cfg) {
			s.reachable(cfg, st, seen)
		}
	}
}

// orphan is a hook hung on a task that no flow runs.
type orphan struct {
	hook string
	when string // "before", "appended to", "after"
	task string
}

func (o orphan) String() string { return fmt.Sprintf("%s, %s %s", o.hook, o.when, o.task) }

func (o orphan) err(cfg Config, n int) error {
	more := ""
	if n > 1 {
		more = fmt.Sprintf(" (and %d more: mage flow deploy lists them)", n-1)
	}
	return fmt.Errorf("hook %s is registered %s task %s, which no flow runs (with the %s strategy); hang it on a task listed by mage flow deploy or mage flow rollback%s", o.hook, o.when, o.task, strategyName(cfg.Strategy), more)
}

// orphanHooks returns the hooks hung on a task that no flow runs (such a
// hook would silently never run), sorted. root, the task a run starts or
// a flow prints, counts as a flow.
func (s *setup) orphanHooks(cfg Config, root *Task) []orphan {
	seen := map[*Task]bool{}
	roots := s.flowRoots()
	if root != nil {
		roots = append(roots, root)
	}
	for _, t := range roots {
		s.reachable(cfg, t, seen)
	}
	var out []orphan
	for _, m := range []struct {
		when  string
		hooks map[*Task][]hook
	}{{"before", s.hooks.before}, {"appended to", s.hooks.steps}, {"after", s.hooks.after}} {
		for t, hs := range m.hooks {
			if seen[t] {
				continue
			}
			for _, h := range hs {
				out = append(out, orphan{hook: h.label(), when: m.when, task: t.name})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b orphan) int { return strings.Compare(a.task+" "+a.when, b.task+" "+b.when) })
	return out
}

// checkHookTargets refuses hooks hung on a task that no flow runs: such a
// hook would silently never run.
func (s *setup) checkHookTargets(cfg Config, root *Task) error {
	if o := s.orphanHooks(cfg, root); len(o) > 0 {
		return o[0].err(cfg, len(o))
	}
	return nil
}
