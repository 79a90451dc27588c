//go:build mage

package main

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib/bench"
)

// Bench times deploys by Capstan, Capistrano and one ssh script per host (the floor) on real sshd hosts at a 50 ms round trip.
//
// Settings: BENCH_HOSTS=1,3,20 BENCH_RUNS=5 BENCH_DELAY=25ms (one way) BENCH_TOOLS=capstan,capistrano,floor
// BENCH_OUT=dir BENCH_COLD=1 (also compile with an empty Go build cache) BENCH_NO_INSTALL=1 (never apt-get install capistrano)
// BENCH_KEEP=1 (keep the generated projects).
func Bench(ctx context.Context) error {
	opts, err := bench.FromEnv()
	if err != nil {
		return err
	}
	_, err = bench.Run(ctx, opts)
	return err
}
