//go:build mage

// Capstan deploys itself: this is the repository's own deploy definition,
// and the example a team copies.
package main

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets/deployns"
	//mage:import
	_ "github.com/capstan-deploy/capstan/stages"
)

// Hooks are unexported so that mage does not list them as targets.
func init() {
	deploylib.Configure(deploylib.Config{
		Application:  "capstan",
		RepoURL:      "https://github.com/capstan-deploy/capstan.git", // the local stage uses this checkout instead
		DeployTo:     "/srv/capstan",
		KeepReleases: 3,
		LinkedDirs:   []string{"log"},
	})
	deploylib.Before(deploylib.Starting, showTarget)
	deploylib.After(deploylib.Updated, verifyRelease)
}

// showTarget prints where the run is going before anything happens.
func showTarget(ctx context.Context) error {
	r := deploylib.CurrentRun(ctx)
	deploylib.Logf(ctx, "deploying %s (%s) to %d host(s), deploy_to %s", r.Config.Application, r.Config.Branch, len(r.Hosts()), r.Config.DeployTo)
	return nil
}

// verifyRelease checks on every host that the new release has its go.mod
// and REVISION before it goes live.
func verifyRelease(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		return h.Within(h.ReleasePath()).Execute(ctx, "test", "-f", "go.mod", "-a", "-f", "REVISION")
	})
}
