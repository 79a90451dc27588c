//go:build mage

package main

import (
	"context"
)

// simCommand is the package of the simulation's command; like the
// benchmark's, it lives under deploylib/internal, so the target builds and
// runs it.
const simCommand = "./deploylib/internal/sim/cmd/capstan-sim"

// Sim measures what the client costs per host: full deploys to 1, 10, 100 and 1000 in-process SSH servers at a 50 ms round trip.
//
// Settings: SIM_HOSTS=1,10,100,1000 SIM_RUNS=3 SIM_DELAY=25ms (one way).
func Sim(ctx context.Context) error {
	return runInternalCommand(ctx, "capstan-sim", simCommand)
}
