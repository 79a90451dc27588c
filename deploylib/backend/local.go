package backend

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Local runs commands on this machine through /bin/sh. Each command runs in
// its own process group, so cancelling its context stops every process it
// started, not only the shell.
type Local struct {
	// Env, when not nil, replaces the environment of the commands
	// (os/exec's rule); nil inherits this process's environment.
	Env []string
}

// Run implements [Conn].
func (l *Local) Run(ctx context.Context, cmd shell.Command, stdio Stdio) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd.String())
	c.Env = l.Env
	c.Stdin = stdio.Stdin
	c.Stdout = stdio.Stdout
	c.Stderr = stdio.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		// Kill the whole group: the shell and everything it started.
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
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
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			return &ExitError{Status: 128 + int(ws.Signal()), Signal: signalName(ws.Signal())}
		}
		return &ExitError{Status: ee.ExitCode()}
	}
	return err
}

// Close implements [Conn]; a Local has nothing to release.
func (l *Local) Close() error { return nil }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGSEGV:
		return "SEGV"
	case syscall.SIGPIPE:
		return "PIPE"
	default:
		return fmt.Sprintf("%d", int(s))
	}
}
