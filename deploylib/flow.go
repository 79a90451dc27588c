package deploylib

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// PrintFlow writes the tree of tasks that invoking root runs, with every
// registered hook under [before] and [after], in the format of
// Capistrano's flow documentation, then deploy:failed with its hooks.
// Strategy-dependent steps follow the configuration passed to
// [Configure], with the stage's overrides when a stage was selected
// (mage production flow deploy). Hooks hung on tasks that no flow runs are listed last, and
// make it return an error (the runs refuse them too).
func PrintFlow(w io.Writer, root *Task) error {
	st, _ := SelectedStage() // mage production flow deploy: with the stage's Configure
	cfg := CurrentConfig().withDefaults(st)
	var b strings.Builder
	printTask(&b, cfg, root, 0, map[*Task]bool{})
	if root != Failed {
		// deploy:failed runs after any failed task of any run: its hooks
		// (a failure notifier) belong to every flow.
		b.WriteString("(when a task above fails)\n")
		printTask(&b, cfg, Failed, 0, map[*Task]bool{})
	}
	orphans := orphanHooks(cfg)
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

func printTask(b *strings.Builder, cfg Config, t *Task, depth int, path map[*Task]bool) {
	indent := strings.Repeat("  ", depth)
	b.WriteString(indent + t.name + "\n")
	if path[t] {
		return // a hook cycle; the engine's once-only rule stops it too
	}
	path[t] = true
	defer delete(path, t)
	before, appended, after := hooksOf(t)
	printHooks(b, cfg, "[before]", before, depth+1, path)
	if t.steps != nil {
		for _, s := range t.steps(cfg) {
			printTask(b, cfg, s, depth+1, path)
		}
	}
	printHookList(b, cfg, appended, depth+1, path)
	printHooks(b, cfg, "[after]", after, depth+1, path)
}

func printHooks(b *strings.Builder, cfg Config, label string, hs []hook, depth int, path map[*Task]bool) {
	if len(hs) == 0 {
		return
	}
	b.WriteString(strings.Repeat("  ", depth) + label + "\n")
	printHookList(b, cfg, hs, depth+1, path)
}

func printHookList(b *strings.Builder, cfg Config, hs []hook, depth int, path map[*Task]bool) {
	for _, h := range hs {
		if h.task != nil {
			printTask(b, cfg, h.task, depth, path)
		} else {
			b.WriteString(strings.Repeat("  ", depth) + h.name + "\n")
		}
	}
}

// FlowByName returns the flow the user names in mage flow <name>.
func FlowByName(name string) (*Task, error) {
	switch name {
	case "deploy":
		return Deploy, nil
	case "rollback", "deploy:rollback":
		return Rollback, nil
	}
	if t, err := TaskByName(name); err == nil {
		return t, nil // a standard task or a team task: its own tree
	}
	return nil, fmt.Errorf("unknown flow %q: choose deploy or rollback, or name a task (mage flow app:restart)", name)
}

// reachable adds t, its steps and its hooks' tasks to seen.
func reachable(cfg Config, t *Task, seen map[*Task]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	before, appended, after := hooksOf(t)
	for _, h := range append(append(before, appended...), after...) {
		if h.task != nil {
			reachable(cfg, h.task, seen)
		}
	}
	if t.steps != nil {
		for _, s := range t.steps(cfg) {
			reachable(cfg, s, seen)
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
	return fmt.Errorf("hook %s is registered %s task %s, which no flow runs (with the %T strategy); hang it on a task listed by mage flow deploy or mage flow rollback%s", o.hook, o.when, o.task, cfg.Strategy, more)
}

// orphanHooks returns the hooks hung on a task that no flow runs (such a
// hook would silently never run), sorted.
func orphanHooks(cfg Config) []orphan {
	seen := map[*Task]bool{}
	for _, t := range flowRoots() {
		reachable(cfg, t, seen)
	}
	regMu.Lock()
	defer regMu.Unlock()
	var out []orphan
	for _, m := range []struct {
		when  string
		hooks map[*Task][]hook
	}{{"before", hooks.before}, {"appended to", hooks.steps}, {"after", hooks.after}} {
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
func checkHookTargets(cfg Config) error {
	if o := orphanHooks(cfg); len(o) > 0 {
		return o[0].err(cfg, len(o))
	}
	return nil
}
