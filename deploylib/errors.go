package deploylib

import (
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// ConnectError reports a host that could not be reached or logged in to:
// nothing ran on it. Its message names the host and the cause, so a
// refused connection is not mistaken for a failed command (a repository
// that cannot be read, say).
type ConnectError = engine.ConnectError

// InterruptedError is what [Start] returns when a signal interrupted the
// run. Its ExitStatus is 128 plus the signal number (130 for SIGINT, 143
// for SIGTERM), which mage uses as the exit status.
type InterruptedError = engine.InterruptedError

// TimeoutError reports a remote command stopped because it ran longer
// than Config.CommandTimeout.
type TimeoutError = engine.TimeoutError

// TaskError is the error of a failed task. It names the innermost task
// that failed; Err says what failed on which host.
type TaskError = engine.TaskError
