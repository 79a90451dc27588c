// Command capstan-bench runs the benchmark of package bench with the
// settings of its BENCH_* environment variables, from a checkout of this
// repository. The repository's mage target runs it: sudo go tool mage
// bench. It stops, cleaning up its lab, on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/capstan-deploy/capstan/deploylib/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts, err := bench.FromEnv()
	if err != nil {
		return err
	}
	_, err = bench.Run(ctx, opts)
	return err
}
