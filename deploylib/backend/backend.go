// Package backend runs rendered commands on one host.
//
// A [Conn] is the whole contract between the deploy engine and a host: run
// one command with given standard streams and report how it ended. Four
// implementations exist: [Local] (this machine, through /bin/sh), [Printer]
// (dry run: prints, runs nothing), [Recorder] (tests: records, answers from
// rules), and the SSH backend in package sshbackend. Execute, Test and
// Capture are written once on top of Conn.Run, in package deploylib.
package backend

import (
	"context"
	"fmt"
	"io"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Conn runs commands on one host. Implementations must allow several Run
// calls at once.
type Conn interface {
	// Run runs cmd to completion, feeding it stdio.Stdin (when not nil) and
	// streaming its output to stdio.Stdout and stdio.Stderr (when not nil).
	// A command that ran and exited non-zero, was killed by a signal, or
	// ended without reporting a status yields an *ExitError. When ctx ends
	// first, Run stops the command and returns an error wrapping ctx.Err().
	Run(ctx context.Context, cmd shell.Command, stdio Stdio) error
	// Close releases the connection. Run must not be called after Close.
	Close() error
}

// Stdio holds a command's standard streams. Nil fields mean no input and
// discarded output.
type Stdio struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// CommentLines says that Stdin holds only lines that start with '#',
	// which the command reads, if at all, one at a time with the shell's
	// read builtin (one byte at a time), and that the command needs no end
	// of its input. A backend may then run the command in a shell that
	// reads its commands from the same input (sshbackend's command shell):
	// it writes each line only once that shell has read the whole command
	// and started it, and drops the lines that come after the command
	// ended; a line the command did not read is a comment to that shell.
	// Such a backend drops lines that do not start with '#', and a last
	// line without its newline. The caller ends Stdin (EOF) once it has nothing
	// more to write; Run may return before that, once the command ended.
	CommentLines bool
}

// ExitError reports a command that ran and did not succeed.
type ExitError struct {
	// Status is the exit status; 128+n for a command killed by signal n
	// when the signal is known, -1 when no status was reported at all.
	Status int
	// Signal names the signal that killed the command ("KILL"), if any.
	Signal string
}

func (e *ExitError) Error() string {
	switch {
	case e.Signal != "":
		return fmt.Sprintf("killed by signal %s", e.Signal)
	case e.Status < 0:
		return "ended without an exit status"
	default:
		return fmt.Sprintf("exit status %d", e.Status)
	}
}

// ExitStatus returns the exit status, so that tools reading exit codes
// (mage among them) pass it through.
func (e *ExitError) ExitStatus() int { return e.Status }
