package engine

import (
	"errors"
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
)

// ConnectError reports a host that could not be reached or logged in to:
// nothing ran on it. Its message names the host and the cause, so a
// refused connection is not mistaken for a failed command (a repository
// that cannot be read, say).
type ConnectError struct {
	// Host is the server as the console prints it (user@host:port).
	Host string
	Err  error
}

func (e *ConnectError) Error() string {
	cause := e.Err.Error()
	var op *sshbackend.OpError
	if errors.As(e.Err, &op) && e.Err == error(op) {
		// The host is named already: say the step and its error.
		cause = op.Op + ": " + op.Err.Error()
		if op.Op == "dial" {
			cause = op.Err.Error() // "dial tcp ...: connection refused"
		}
	}
	return fmt.Sprintf("cannot connect to %s: %s", e.Host, cause)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// connectErrorOf returns the *ConnectError in err's tree, or nil.
func connectErrorOf(err error) *ConnectError {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
