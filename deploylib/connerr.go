package deploylib

import (
	"errors"
	"fmt"
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

func (e *ConnectError) Error() string { return fmt.Sprintf("cannot connect to %s: %v", e.Host, e.Err) }

func (e *ConnectError) Unwrap() error { return e.Err }

// connectErrorOf returns the *ConnectError in err's tree, or nil.
func connectErrorOf(err error) *ConnectError {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
