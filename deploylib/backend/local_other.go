//go:build !unix

package backend

import (
	"fmt"
	"os/exec"
	"runtime"
)

// localAvailable fails: the commands Capstan runs are POSIX shell, and
// this system has no /bin/sh to run them.
func localAvailable() error {
	return fmt.Errorf("%w: local servers (the local stage, Server.Local) run their commands through %s, which %s does not have; "+
		"deploy to a server over SSH, or run mage under WSL", ErrNoLocalShell, LocalShell, runtime.GOOS)
}

// ownProcessGroup is never reached: Run fails before starting anything.
func ownProcessGroup(*exec.Cmd) {}

// exitError is never reached: Run fails before starting anything.
func exitError(ee *exec.ExitError) error { return &ExitError{Status: ee.ExitCode()} }
