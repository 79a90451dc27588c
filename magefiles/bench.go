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

// benchCommand is the package of the benchmark's command. The benchmark
// lives under deploylib/internal, which only deploylib may import, so the
// target builds and runs the command rather than calling it.
const benchCommand = "./deploylib/internal/bench/cmd/capstan-bench"

// Bench times deploys by Capstan, Capistrano and one ssh script per host (the floor) on real sshd hosts at a 50 ms round trip.
//
// Settings: BENCH_HOSTS=1,3,20 BENCH_RUNS=5 BENCH_DELAY=25ms (one way) BENCH_TOOLS=capstan,capistrano,floor
// BENCH_OUT=dir BENCH_COLD=1 (also compile with an empty Go build cache) BENCH_NO_INSTALL=1 (never apt-get install capistrano)
// BENCH_KEEP=1 (keep the generated projects).
func Bench(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "capstan-bench-bin-")
	if err != nil {
		return fmt.Errorf("bench: temporary directory for the command: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "capstan-bench")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, benchCommand)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("bench: go build %s: %w", benchCommand, err)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// On Ctrl-C mage cancels ctx and waits 5 s: interrupt the benchmark so
	// that it stops its lab, rather than killing it.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 4 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
