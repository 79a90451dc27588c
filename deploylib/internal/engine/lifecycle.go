package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// How a run ends, whatever happens to it.
//
// A run owns SIGINT, SIGTERM and SIGHUP while it runs. Mage's own handler
// cancels the target's context on Ctrl-C and then kills the process five
// seconds later, which can cut a cleanup short; SIGTERM (what CI sends) it
// does not handle at all. So the run detaches mage's handler
// (signal.Ignore) and installs its own (signal.Notify). The first signal
// cancels the run's context: the backends stop the commands in flight (the
// Local backend kills their process group, the SSH backend kills the
// remote process group), no new task starts, and the cleanup runs on a
// context of its own: hosts already switched are switched back if
// publishing was under way, deploy:failed removes the half-built release,
// and the deploy lock is released. Start then returns an
// [*InterruptedError], which mage turns into exit status 130 (SIGINT), 143
// (SIGTERM) or 129 (SIGHUP). A second signal cancels the cleanup too, and
// Start returns at most abandonWait later, saying what may be left behind.

// cleanupTimeout bounds the work done after a failure or an interrupt.
const cleanupTimeout = 60 * time.Second

// execute runs task as the root of the run to its end: it owns SIGINT,
// SIGTERM and SIGHUP while the task runs (interrupt.go) and reports the
// outcome after the work that a failure or an interrupt requires
// (runToEnd: deploy:failed, switching hosts back, releasing the deploy
// lock).
func (r *Run) execute(ctx context.Context, task *Task) error {
	r.root = task
	if r.tasks == nil {
		r.tasks = []*Task{task}
	}
	ctx = context.WithValue(ctx, runKey{}, r)
	r.logStart(task.name) // logfile.go
	if r.dryRun {
		r.console.Info("DRY RUN: every command is printed and logged, none is run; Test reports true and Capture returns \"\"")
	}
	var stop func()
	r.intr, ctx, stop = watchInterrupts(ctx, withCleanup, r.console) // interrupt.go
	defer stop()
	r.dialer.ahead(ctx, r.hosts) // dial.go
	done := make(chan error, 1)
	go func() { done <- r.runToEnd(ctx, task) }()
	select {
	case err := <-done:
		return err
	case <-r.intr.abandon:
		err := fmt.Errorf("the cleanup was abandoned: hosts may still hold this run's deploy lock (clear it with mage %s deploy:unlock) and its half-built release (the next deploy's cleanup removes it)", r.Stage.Name)
		r.console.Warn("%v", err)
		return &InterruptedError{Signal: r.intr.signal(), Err: err}
	}
}

// runToEnd invokes task, after the deploy lock when the tasks the run
// was started with change the servers and do not take it themselves, then
// does what the outcome requires: on success the lock release; on failure
// or interrupt deploy:failed (which removes the half-built release), the
// per-host publishing report and the lock release.
func (r *Run) runToEnd(ctx context.Context, task *Task) error {
	// The summary of a success, or the failure block of err (logfile.go).
	finish := func(err error) {
		var o outcome
		if err == nil {
			o = outcome{release: r.ReleaseName(), notPublished: r.state.builtNotPublished(),
				revision: r.Revision(), hosts: len(r.hosts)}
		}
		r.log.finish(r.root, err, o)
	}
	var err error
	if r.setup.needsLock(r.Config, r.tasks...) {
		err = r.invokeRecovered(ctx, Lock)
	}
	if err == nil {
		err = r.invokeRecovered(ctx, task)
	}
	r.plan.end() // a script still running when the flow stopped (plan.go)
	// The lock's release has a budget of its own: a slow deploy:failed
	// hook or removal cannot leave the lock behind.
	release := func() error {
		lctx, cancel := r.intr.cleanupContext(ctx, lockReleaseTimeout)
		defer cancel()
		return r.lock.release(lctx)
	}
	if err == nil {
		if lerr := release(); lerr != nil {
			// The work is done, but a lock left behind refuses the next
			// deploy: the exit status says so.
			err = fmt.Errorf("%s finished, but the deploy lock could not be released: %w", r.root.name, lerr)
			finish(err)
			return &runError{err: err}
		}
		finish(nil)
		return nil
	}
	cctx, cancel := r.intr.cleanupContext(ctx, r.cleanupTimeout)
	defer cancel()
	var locked *LockedError
	if !errors.As(err, &locked) {
		if ferr := r.recoverFailure(cctx); ferr != nil {
			err = errors.Join(err, fmt.Errorf("while handling the failure: %w", ferr))
		}
	} else if ferr := r.removeUnpublished(cctx); ferr != nil {
		// A run refused by another run's lock changes nothing: its
		// deploy:failed must not act while the other run works, but the
		// releases it built, in the script that took the lock, on hosts
		// where it got the lock, go before it lets go of them.
		err = errors.Join(err, fmt.Errorf("while removing the releases built before the lock was refused: %w", ferr))
	}
	cancel()
	// Where current points is read back while the lock is still held.
	report := r.log.hostReport(r.hosts, r.state, r.ReleasePath(), r.Config.DeployTo, func(hosts []*Host) []currentReadBack {
		return readCurrent(ctx, r.intr, hosts, r.layout().Current(), r.Config.DeployTo)
	}) // report.go
	if lerr := release(); lerr != nil {
		err = errors.Join(err, lerr)
	}
	sig := r.intr.signal()
	if sig != nil {
		r.console.Warn("interrupted by %s; cleanup done", signalName(sig))
	}
	for _, l := range report {
		r.console.Warn("%s", l)
	}
	finish(err)
	if sig != nil {
		return &InterruptedError{Signal: sig, Err: err}
	}
	return &runError{err: err}
}

// recoverFailure does what a failed run requires. For the deploy and
// rollback flows it invokes deploy:failed with its hooks, as Capistrano
// does: the team's "deploy failed" notification belongs there. Any other
// run (mage production task deploy:check, a team's own task) runs
// deploy:failed's own work alone, without the hooks: it finishes a removal
// of old releases that was cut short and removes the release this run
// half-built, and says so under its own task line; when there is nothing
// to undo it prints nothing.
func (r *Run) recoverFailure(ctx context.Context) error {
	// The deploy or rollback flow (alone or among the tasks named on the
	// command line): the runs whose failure invokes deploy:failed with
	// its hooks.
	if slices.Contains(r.tasks, Deploy) || slices.Contains(r.tasks, Rollback) {
		return r.invokeRecovered(ctx, Failed)
	}
	if !r.state.recoveryPending() {
		return nil
	}
	return recoverAlone(ctx, r.console)
}

// recoverAlone runs deploy:failed's own work without its hooks, under its
// own task line on c, turning a panic into an error.
func recoverAlone(ctx context.Context, c *console.Console) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &TaskError{Task: Failed.name, Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	c.Task(Failed.name + " (Capstan's cleanup only; the hooks run when deploy or rollback fails)")
	if err := Failed.action(ctx); err != nil {
		return wrapTask(Failed.name, err)
	}
	return nil
}

// invokeRecovered invokes t, turning a panic of a task or hook into an
// error, so the failure handling still runs.
func (r *Run) invokeRecovered(ctx context.Context, t *Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &TaskError{Task: t.name, Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	return r.invoke(ctx, t, false)
}

// needsLock reports whether a run started with tasks, in this order, must
// take the deploy lock before the first: every standard task must hold it
// (deploy:cleanup run beside a deploy would remove that deploy's
// unfinished release), except those that only read and the lock tasks
// themselves. A team's own tasks and ad-hoc commands do not lock. A task
// that reaches deploy:lock itself (deploy:starting, deploy:check) takes it
// in its place in the flow, so the run needs it ahead only when a task
// that must hold it comes before any task that takes it. cfg is the run's
// configuration.
func (s *setup) needsLock(cfg Config, tasks ...*Task) bool {
	seen := map[*Task]bool{}
	for _, task := range tasks {
		reach := map[*Task]bool{}
		s.reachable(cfg, task, reach)
		if reach[Lock] || seen[Lock] {
			return false
		}
		if mustHoldLock(task) {
			return true
		}
		for t := range reach {
			seen[t] = true
		}
	}
	return false
}

// mustHoldLock reports whether task, a standard task that changes the
// servers, must run under the deploy lock.
func mustHoldLock(task *Task) bool {
	switch task {
	case Lock, Unlock, GitCheck:
		return false
	}
	return slices.Contains(standardTasks(), task)
}

// startReadOnly runs fn as the root of a run that changes nothing on the
// servers (deploy:check's doctor, releases, run): it builds the run as
// [Start] does (stage, environment, log file) and runs fn under
// [Run.readOnly], dialing every host ahead.
func startReadOnly(ctx context.Context, name string, opts []Option, fn func(ctx context.Context, r *Run) error) error {
	r, err := newRun(opts...)
	if err != nil {
		return err
	}
	defer r.close()
	return r.readOnly(ctx, name, dialHosts, fn)
}

// Whether a read-only run connects to its hosts ahead.
const (
	dialHosts = true  // the operation runs commands over the run's connections
	dialNone  = false // it reaches its host its own way (ssh runs the system's ssh)
)

// readOnly runs fn as the root of r, a run that changes nothing on the
// servers, with the log's START and END lines naming it. It handles
// Ctrl-C, SIGTERM and SIGHUP as [Start] does: the first signal stops the
// commands in flight and readOnly returns an [*InterruptedError]; a second
// one stops waiting for them, and readOnly returns at most abandonWait
// later. It takes no lock and runs no deploy:failed, since there is
// nothing to undo. With dialAhead every host is dialed ahead (dial.go).
func (r *Run) readOnly(ctx context.Context, name string, dialAhead bool, fn func(ctx context.Context, r *Run) error) error {
	ctx = context.WithValue(ctx, runKey{}, r)
	var stop func()
	r.intr, ctx, stop = watchInterrupts(ctx, nothingToUndo, r.console)
	defer stop()
	if dialAhead {
		r.dialer.ahead(ctx, r.hosts)
	}
	r.logStart(name)
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%s: panic: %v\n%s", name, p, debug.Stack())
			}
		}()
		done <- fn(ctx, r)
	}()
	var err error
	select {
	case err = <-done:
	case <-r.intr.abandon:
		err = fmt.Errorf("%s: gave up waiting for the commands in flight to stop", name)
		r.console.Warn("%v", err)
	}
	r.logEnd(name, err)
	if sig := r.intr.signal(); sig != nil {
		r.console.Warn("interrupted by %s", signalName(sig))
		return &InterruptedError{Signal: sig, Err: err}
	}
	return err
}
