//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runInternalCommand builds the command package pkg (one under
// deploylib/internal, which magefiles may not import) and runs it with
// this process's standard streams. On Ctrl-C mage cancels ctx and waits
// 5 s: the command is interrupted, so that it stops what it started (a
// lab, a fleet), rather than killed.
func runInternalCommand(ctx context.Context, name, pkg string) error {
	dir, err := os.MkdirTemp("", "capstan-"+name+"-bin-")
	if err != nil {
		return fmt.Errorf("%s: temporary directory for the command: %w", name, err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("%s: go build %s: %w", name, pkg, err)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 4 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
