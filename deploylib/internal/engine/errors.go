package engine

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// The error types a run returns, besides LockedError (lock.go) and
// CommandError (host.go), which belong with what they describe.

// InterruptedError is what [Start] returns when a signal interrupted the
// run. Its ExitStatus is 128 plus the signal number (130 for SIGINT, 143
// for SIGTERM), which mage uses as the exit status.
type InterruptedError struct {
	Signal os.Signal
	// Err is what the run reported after stopping.
	Err error
}

func (e *InterruptedError) Error() string {
	return redact(fmt.Sprintf("interrupted by %s: %v", signalName(e.Signal), e.Err))
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// ExitStatus returns 128 plus the signal number.
func (e *InterruptedError) ExitStatus() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// TimeoutError reports a remote command stopped because it ran longer
// than Config.CommandTimeout.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s (Config.CommandTimeout); the command was stopped", e.After)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// runError is the error of a failed run as Start returns it: its message
// is redacted, since mage prints it.
type runError struct{ err error }

func (e *runError) Error() string { return console.Sanitize(redact(e.err.Error())) }

func (e *runError) Unwrap() error { return e.err }

// TaskError is the error of a failed task. It names the innermost task
// that failed; Err says what failed on which host.
type TaskError struct {
	Task string
	Err  error
}

func (e *TaskError) Error() string { return fmt.Sprintf("%s: %v", e.Task, e.Err) }

func (e *TaskError) Unwrap() error { return e.Err }

// errOutsideRun is what the functions that need a run (On, Invoke, ...)
// return when ctx does not come from one: most often a mage target that
// calls a hook directly instead of starting it as a task.
var errOutsideRun = errors.New(`deploylib: called outside a run; tasks and hooks get their context from deploylib. ` +
	`A mage target runs its work as a task: var AppRestart = deploylib.NewTask("app:restart", "restarts the app", restart) ` +
	`and func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) } ` +
	`(see docs/hooks.md, "Your own tasks")`)
