//go:build mage

package main

import (
	"context"
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
	return runInternalCommand(ctx, "capstan-bench", benchCommand)
}
