package engine

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// The standard tasks. Each is a Go value, so Before and After can hang a
// hook on any of them. The deploy and rollback flows are trees of these
// tasks; mage flow deploy prints the tree with every hook.
var (
	// Deploy is the deploy flow: Capistrano's eight phases in order.
	Deploy = &Task{name: "deploy", doc: "deploys the stage's branch as a new release",
		steps: fixed(Starting, Started, Updating, Updated, Publishing, Published, Finishing, Finished)}
	// Rollback is the rollback flow (deploy:rollback).
	// Its steps are set in init: several definitions ask whether the run
	// rolls back, which refers to Rollback (an initialization cycle).
	Rollback = &Task{name: "deploy:rollback", doc: "points current back at the previous release"}

	// Starting makes sure everything is ready (checks, previous revision).
	Starting = &Task{name: "deploy:starting", doc: "start a deployment, make sure everything is ready",
		steps: fixed(Check, SetPreviousRevision)}
	// Started is a hook point after starting.
	Started = &Task{name: "deploy:started", doc: "started hook (for custom tasks)"}
	// Updating creates the new release on every server.
	Updating = &Task{name: "deploy:updating", doc: "update server(s) with a new release",
		steps: func(c Config) []*Task {
			return []*Task{NewReleasePath, c.Strategy.CreateReleaseTask(), SetCurrentRevision, SymlinkShared}
		}}
	// Updated is a hook point after the release is complete but not live.
	Updated = &Task{name: "deploy:updated", doc: "updated hook"}
	// Publishing switches current to the release, then checks its health
	// when a health check is configured.
	Publishing = &Task{name: "deploy:publishing", doc: "publish the new release",
		steps: func(c Config) []*Task {
			if c.HealthCheck != nil {
				return []*Task{SymlinkRelease, CheckHealth} // healthcheck.go
			}
			return []*Task{SymlinkRelease}
		}}
	// Published is a hook point after current switched.
	Published = &Task{name: "deploy:published", doc: "published hook"}
	// Finishing cleans up after a deploy.
	Finishing = &Task{name: "deploy:finishing", doc: "finish the deployment, clean up everything",
		steps: fixed(Cleanup)}
	// Finished is the last phase; it logs the revision.
	Finished = &Task{name: "deploy:finished", doc: "finished hook",
		steps: fixed(LogRevision)}
	// Reverting picks the release to roll back to.
	Reverting = &Task{name: "deploy:reverting", doc: "revert server(s) to previous release",
		steps: fixed(RevertRelease)}
	// Reverted is a hook point after the rollback target is chosen.
	Reverted = &Task{name: "deploy:reverted", doc: "reverted hook"}
	// FinishingRollback cleans up after a rollback.
	FinishingRollback = &Task{name: "deploy:finishing_rollback", doc: "finish the rollback, clean up everything",
		steps: fixed(CleanupRollback)}
	// Failed runs when any task of a deploy or rollback fails: it removes
	// the half-built release; hang notifications on it.
	Failed = &Task{name: "deploy:failed", doc: "runs when a deploy or rollback fails", action: failed}

	// Check verifies the servers are ready: source access, directories,
	// linked files; the deploy lock (lock.go) is taken last, once the
	// checks passed.
	Check = &Task{name: "deploy:check", doc: "checks that every server is ready for a deploy",
		steps: func(c Config) []*Task { return []*Task{c.Strategy.CheckTask(), CheckDirectories, Lock} }}
	// SymlinkShared links the linked files and dirs into the release.
	SymlinkShared = &Task{name: "deploy:symlink:shared", doc: "links shared files and directories into the release",
		steps: fixed(SymlinkLinkedFiles, SymlinkLinkedDirs)}
)

// fixed is the steps of a task that runs the same tasks whatever the
// configuration.
func fixed(steps ...*Task) func(Config) []*Task {
	return func(Config) []*Task { return steps }
}

func init() {
	Rollback.steps = fixed(Starting, Started, Reverting, Reverted, Publishing, Published, FinishingRollback, Finished)
}

// flowRoots are the roots of everything a run may invoke, so that a hook
// on any task they reach is valid: the flows, the failure handler,
// deploy:unlock, and the team's own tasks that do something (made with
// NewTask and a function), which their mage targets start. A team task
// without a function is only a hook point, run where a flow reaches it.
func (s *setup) flowRoots() []*Task {
	roots := []*Task{Deploy, Rollback, Failed, Unlock}
	for _, t := range s.team {
		if t.runs() {
			roots = append(roots, t)
		}
	}
	return roots
}

// standardTasks returns every standard task, flows first.
func standardTasks() []*Task {
	return []*Task{
		Deploy, Rollback,
		Starting, Started, Updating, Updated, Publishing, Published, Finishing, Finished,
		Reverting, Reverted, FinishingRollback, Failed,
		Check, CheckDirectories, Lock, Unlock, SetPreviousRevision, NewReleasePath, SetCurrentRevision,
		SymlinkShared, SymlinkLinkedFiles, SymlinkLinkedDirs, SymlinkRelease,
		CheckHealth, Cleanup, CleanupRollback, RevertRelease, LogRevision,
		GitCheck, GitClone, GitUpdate, GitCreateRelease,
		UploadCheck, UploadCreateRelease,
	}
}

// taskByName returns the standard task called name ("git:create_release"),
// else the team task of that name ("app:restart"); "rollback" is short for
// deploy:rollback, as in mage flow rollback.
func (s *setup) taskByName(name string) (*Task, error) {
	if name == "rollback" {
		name = Rollback.name
	}
	for _, t := range standardTasks() {
		if t.name == name {
			return t, nil
		}
	}
	for _, t := range s.team {
		if t.name == name {
			return t, nil
		}
	}
	return nil, s.noTaskError(name)
}

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

// PrintTasks writes every task a run can start, with the first sentence of
// its doc, grouped: the deploy flow and the rollback flow in the order they
// run their tasks (with the team tasks hung on them as hooks, under
// [before] and [after]), deploy:failed, the standard tasks no flow runs
// with this configuration, and the team's own tasks made with [NewTask],
// with where they hang. It is the tasks target (Capistrano's cap -T):
// mage tasks, or mage production tasks for a stage's strategy. mage -l
// lists only mage targets; mage flow deploy shows every hook but no doc.
func PrintTasks(w io.Writer) error { return defaultDeployment.PrintTasks(w) }

// PrintTasks writes d's tasks as the package-level [PrintTasks] does.
func (d *Deployment) PrintTasks(w io.Writer) error {
	return d.snapshot().printTasks(w)
}

// taskLister writes the groups of PrintTasks.
type taskLister struct {
	s     *setup
	cfg   Config
	tw    *tabwriter.Writer
	shown map[*Task]bool
	// hungOn records, per team task, where it hangs, in the order the
	// flows reach it.
	hungOn map[*Task][]string
}

func (s *setup) printTasks(w io.Writer) error {
	st, _ := s.selectedStage()
	l := &taskLister{s: s, cfg: s.config.withDefaults(st), shown: map[*Task]bool{}, hungOn: map[*Task][]string{}}
	var b strings.Builder
	group := func(title string, list func()) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(title + "\n")
		l.tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		list()
		l.tw.Flush()
	}
	group("deploy, in the order mage <stage> deploy runs it:", func() { l.tree(Deploy, "", 1) })
	group("rollback, in the order mage <stage> rollback runs it (tasks listed above are not expanded):", func() { l.tree(Rollback, "", 1) })
	group("when a task fails:", func() { l.tree(Failed, "", 1) })
	var others []*Task
	for _, t := range standardTasks() {
		if !l.shown[t] {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		group(fmt.Sprintf("standard tasks no flow runs with this configuration (%s strategy), mage <stage> task <name>:", strategyName(l.cfg.Strategy)), func() {
			for _, t := range others {
				l.row(1, t.name, t.doc)
			}
		})
	}
	if len(s.team) > 0 {
		group("team tasks (deploylib.NewTask), mage <stage> task <name>:", func() {
			for _, t := range s.team {
				doc := firstSentence(t.doc)
				if where := l.hookPlaces(t); where != "" {
					doc += " (" + where + ")"
				}
				l.row(1, t.name, doc)
			}
		})
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tree lists t, then its before hooks, steps, appended steps and after
// hooks that are tasks, indented under it. A task listed before is not
// expanded again.
func (l *taskLister) tree(t *Task, label string, depth int) {
	name := label + t.name
	if l.shown[t] {
		l.row(depth, name, "(see above)")
		return
	}
	l.shown[t] = true
	l.row(depth, name, firstSentence(t.doc))
	before, appended, after := l.s.hooks.on(t)
	hooks := func(kind string, hs []hook) {
		for _, h := range hs {
			if h.task == nil {
				continue // a function hook: mage flow shows it
			}
			where := kind + " " + t.name
			if !slices.Contains(l.hungOn[h.task], where) {
				l.hungOn[h.task] = append(l.hungOn[h.task], where)
			}
			label := ""
			if kind != "appended to" {
				label = "[" + kind + "] "
			}
			l.tree(h.task, label, depth+1)
		}
	}
	hooks("before", before)
	if t.steps != nil {
		for _, st := range t.steps(l.cfg) {
			l.tree(st, "", depth+1)
		}
	}
	hooks("appended to", appended)
	hooks("after", after)
}

func (l *taskLister) row(depth int, name, doc string) {
	fmt.Fprintf(l.tw, "%s%s\t%s\n", strings.Repeat("  ", depth), name, doc)
}

// hookPlaces says where team task t hangs: in the flows' order, then on
// tasks no flow lists, sorted; "run by hand" when nowhere.
func (l *taskLister) hookPlaces(t *Task) string {
	places := slices.Clone(l.hungOn[t])
	var rest []string
	for _, m := range []struct {
		kind  string
		hooks map[*Task][]hook
	}{{"before", l.s.hooks.before}, {"appended to", l.s.hooks.steps}, {"after", l.s.hooks.after}} {
		for on, hs := range m.hooks {
			for _, h := range hs {
				if where := m.kind + " " + on.name; h.task == t && !slices.Contains(places, where) && !slices.Contains(rest, where) {
					rest = append(rest, where)
				}
			}
		}
	}
	slices.Sort(rest)
	places = append(places, rest...)
	if len(places) == 0 {
		return "run by hand"
	}
	return "runs " + strings.Join(places, ", ")
}

// firstSentence returns doc up to the end of its first sentence: a period
// followed by white space or the end.
func firstSentence(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	for i := 0; i < len(doc); i++ {
		if doc[i] == '.' && (i+1 == len(doc) || doc[i+1] == ' ') {
			return doc[:i+1]
		}
	}
	return doc
}
