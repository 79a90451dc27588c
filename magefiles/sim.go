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

// simCommand is the package of the simulation's command; like the
// benchmark's, it lives under deploylib/internal, so the target builds and
// runs it.
const simCommand = "./deploylib/internal/sim/cmd/capstan-sim"

// Sim measures what the client costs per host: full deploys to 1, 10, 100 and 1000 in-process SSH servers at a 50 ms round trip.
//
// Settings: SIM_HOSTS=1,10,100,1000 SIM_RUNS=3 SIM_DELAY=25ms (one way).
func Sim(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "capstan-sim-bin-")
	if err != nil {
		return fmt.Errorf("sim: temporary directory for the command: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "capstan-sim")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, simCommand)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("sim: go build %s: %w", simCommand, err)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// On Ctrl-C, interrupt the simulation so that it stops its fleet.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 4 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}
