package deploylib

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// errOutsideRun is what the functions that need a run (On, Invoke, ...)
// return when ctx does not come from one: most often a mage target that
// calls a hook directly instead of starting it as a task.
var errOutsideRun = errors.New(`deploylib: called outside a run; tasks and hooks get their context from deploylib. ` +
	`A mage target runs its work as a task: var AppRestart = deploylib.NewTask("app:restart", "restarts the app", restart) ` +
	`and func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) } ` +
	`(see "Your own tasks" in Capstan's README)`)

// registerTeamTask records t, made with NewTask, so that TaskByName and
// FlowByName find it and hooks hung on it are valid. A later task of the
// same name replaces an earlier one.
func registerTeamTask(t *Task) {
	regMu.Lock()
	defer regMu.Unlock()
	hooks.team = slices.DeleteFunc(hooks.team, func(o *Task) bool { return o.name == t.name })
	hooks.team = append(hooks.team, t)
}

// TeamTasks returns the tasks made with [NewTask], in the order they were
// made.
func TeamTasks() []*Task {
	regMu.Lock()
	defer regMu.Unlock()
	return slices.Clone(hooks.team)
}

// teamTaskByName returns the team task called name, or nil.
func teamTaskByName(name string) *Task {
	for _, t := range TeamTasks() {
		if t.name == name {
			return t
		}
	}
	return nil
}

// noTaskError says that no task is called name, and which ones exist.
func noTaskError(name string) error {
	msg := fmt.Sprintf("no standard task is called %q; mage flow deploy and mage flow rollback list them", name)
	var names []string
	for _, t := range TeamTasks() {
		names = append(names, t.name)
	}
	if len(names) > 0 {
		msg = fmt.Sprintf("no standard or team task is called %q; the team's tasks (deploylib.NewTask) are %s, mage flow deploy and mage flow rollback list the standard ones", name, strings.Join(names, ", "))
	}
	return errors.New(msg)
}
