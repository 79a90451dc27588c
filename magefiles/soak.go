//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Soak runs the randomized invariant suite (deploylib/internal/invariant) for as long as asked, after the regression seeds of past findings; a failing seed prints the command that replays it.
//
// Settings: SOAK_DURATION=10m (default 10m) SOAK_START=n (the first generated seed; default from the clock)
// SOAK_SEED=n[,m...] (replay only these seeds). Needs root, sshd and git, like the fault suite.
func Soak(ctx context.Context) error {
	if err := ensureTestTools(ctx); err != nil {
		return err
	}
	env := os.Environ()
	timeout := 30 * time.Minute
	if os.Getenv("SOAK_SEED") == "" {
		d := 10 * time.Minute
		if v := os.Getenv("SOAK_DURATION"); v != "" {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("SOAK_DURATION=%q: %w", v, err)
			}
		} else {
			env = append(env, "SOAK_DURATION="+d.String())
		}
		// The last seed may start just before the time is up.
		timeout = d + 10*time.Minute
	}
	args := []string{"test", "-count=1", "-timeout=" + timeout.String(), "-run", "^TestInvariants$", "-v", "./deploylib/internal/invariant"}
	fmt.Println("go", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
