package sshbackend

import (
	"errors"
	"fmt"
	"strings"
)

// ErrHostStoppedAnswering reports a connection declared dead because the
// host stopped answering keepalive requests. Commands running on it and
// every later command fail with an error wrapping it.
var ErrHostStoppedAnswering = errors.New("host stopped answering (keepalive timeout)")

// ErrClosed reports a use of a [Conn] after Close.
var ErrClosed = errors.New("connection closed")

// OpError records what failed while talking to one host.
type OpError struct {
	// Addr is the host's "host:port" as dialled.
	Addr string
	// Op is the step that failed: "dial", "handshake", "auth", "session",
	// "sftp", "keepalive" or "run".
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Addr + ": " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

// AuthError reports that the host refused every identity offered.
type AuthError struct {
	User string
	// Tried describes each identity offered or skipped, in order, such as
	// "agent key ssh-ed25519 SHA256:..." or "/home/me/.ssh/id_rsa (not
	// found)".
	Tried []string
	Err   error
}

func (e *AuthError) Error() string {
	tried := "no identity at all (no agent, no key file)"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	return fmt.Sprintf("login as %q refused; tried %s: %v", e.User, tried, e.Err)
}

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }
