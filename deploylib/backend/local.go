package backend

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// LocalShell is the shell through which [Local] runs every command.
const LocalShell = "/bin/sh"

// ErrNoLocalShell is returned, wrapped, by [LocalAvailable] and by
// [Local.Run] where this machine cannot run commands through [LocalShell]
// (Windows, or a system without /bin/sh). Servers reached over SSH are not
// affected.
var ErrNoLocalShell = errors.New("no local " + LocalShell)

// Local runs commands on this machine through /bin/sh. Each command runs in
// its own process group, so cancelling its context stops every process it
// started, not only the shell. It needs a Unix-like system (Linux, macOS,
// the BSDs); elsewhere Run fails with [ErrNoLocalShell] and runs nothing.
type Local struct {
	// Env, when not nil, replaces the environment of the commands
	// (os/exec's rule); nil inherits this process's environment.
	Env []string
}

// LocalAvailable reports whether [Local] can run commands here: nil, or
// an error wrapping [ErrNoLocalShell] that says why not and what to do
// instead. Stages with local servers call it when they are selected.
func LocalAvailable() error {
	return localAvailable()
}

// Run implements [Conn].
func (l *Local) Run(ctx context.Context, cmd shell.Command, stdio Stdio) error {
	if err := localAvailable(); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, LocalShell, "-c", cmd.String())
	c.Env = l.Env
	c.Stdin = stdio.Stdin
	c.Stdout = stdio.Stdout
	c.Stderr = stdio.Stderr
	ownProcessGroup(c)
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped: %w", ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitError(ee)
	}
	return fmt.Errorf("running %s: %w", LocalShell, err)
}

// Close implements [Conn]; a Local has nothing to release.
func (l *Local) Close() error { return nil }
