package deploylib

import (
	"errors"
	"fmt"
	"strings"
)

// errOutsideRun is what the functions that need a run (On, Invoke, ...)
// return when ctx does not come from one: most often a mage target that
// calls a hook directly instead of starting it as a task.
var errOutsideRun = errors.New(`deploylib: called outside a run; tasks and hooks get their context from deploylib. ` +
	`A mage target runs its work as a task: var AppRestart = deploylib.NewTask("app:restart", "restarts the app", restart) ` +
	`and func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) } ` +
	`(see "Your own tasks" in Capstan's README)`)

// noTaskError says that no task is called name, and which ones exist.
func (s *setup) noTaskError(name string) error {
	msg := fmt.Sprintf("no task is called %q: name a flow (deploy, rollback) or a standard task; mage flow deploy and mage flow rollback list them", name)
	var names []string
	for _, t := range s.team {
		names = append(names, t.name)
	}
	if len(names) > 0 {
		msg = fmt.Sprintf("no standard or team task is called %q; the team's tasks (deploylib.NewTask) are %s, mage flow deploy and mage flow rollback list the standard ones", name, strings.Join(names, ", "))
	}
	return errors.New(msg)
}
