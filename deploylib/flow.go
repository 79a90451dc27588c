package deploylib

import (
	"fmt"
	"io"
	"strings"
)

// PrintFlow writes the tree of tasks that invoking root runs, with every
// registered hook under [before] and [after], in the format of
// Capistrano's flow documentation. Strategy-dependent steps follow the
// configuration passed to [Configure].
func PrintFlow(w io.Writer, root *Task) error {
	cfg := CurrentConfig().withDefaults(Stage{})
	var b strings.Builder
	printTask(&b, cfg, root, 0, map[*Task]bool{})
	_, err := io.WriteString(w, b.String())
	return err
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

// checkHookTargets refuses hooks hung on a task that no flow runs: such a
// hook would silently never run.
func checkHookTargets(cfg Config) error {
	seen := map[*Task]bool{}
	for _, t := range standardTasks() {
		reachable(cfg, t, seen)
	}
	regMu.Lock()
	defer regMu.Unlock()
	for _, m := range []struct {
		when  string
		hooks map[*Task][]hook
	}{{"before", hooks.before}, {"appended to", hooks.steps}, {"after", hooks.after}} {
		for t, hs := range m.hooks {
			if !seen[t] {
				return fmt.Errorf("hook %s is registered %s task %s, which no flow runs (with the %T strategy); hang it on a task listed by mage flow deploy or mage flow rollback", hs[0].label(), m.when, t.name, cfg.Strategy)
			}
		}
	}
	return nil
}
