//go:build unix

package backend

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// localAvailable checks that /bin/sh exists.
func localAvailable() error {
	if _, err := os.Stat(LocalShell); err != nil {
		return fmt.Errorf("%w: local servers run their commands through %s: %v", ErrNoLocalShell, LocalShell, err)
	}
	return nil
}

// ownProcessGroup starts c in a process group of its own and makes
// cancelling kill the whole group: the shell and everything it started.
func ownProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

// exitError turns how the shell ended into an *ExitError, 128+n for a
// shell killed by signal n.
func exitError(ee *exec.ExitError) error {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Status: 128 + int(ws.Signal()), Signal: signalName(ws.Signal())}
	}
	return &ExitError{Status: ee.ExitCode()}
}

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
