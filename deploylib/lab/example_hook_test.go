package lab_test

// This file and example_hooktest_test.go are the worked example of the
// section "Against real servers" of docs/testing.md, as a team would write
// them in its magefiles (package main, build tag mage).
// TestDocsHookExample keeps the docs' code and these files the same.

import (
	"context"
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The team's configuration, as in magefiles/deploy.go of docs/getting-started.md.
func init() {
	deploylib.Configure(deploylib.Config{
		Application:  "shop",
		RepoURL:      "git@github.com:acme/shop.git",
		DeployTo:     "/srv/shop",
		KeepReleases: 5,
		LinkedFiles:  []string{"config/secrets.yml"},
		LinkedDirs:   []string{"log", "tmp/pids"},
	})
}

func init() { deploylib.After(deploylib.Updated, writeReleaseInfo) }

// writeReleaseInfo tells the app which release it runs: config/release.yml
// in the new release, on every server that gets the release.
func writeReleaseInfo(ctx context.Context) error {
	r := deploylib.CurrentRun(ctx)
	info := fmt.Sprintf("release: %s\nrevision: %s\n", r.ReleaseName(), r.Revision().SHA)
	return deploylib.On(ctx, deploylib.ReleaseHosts(), func(ctx context.Context, h *deploylib.Host) error {
		return h.Within(h.ReleasePath()).ExecuteCommand(ctx, shell.New("printf", "%s", info).WriteTo("config/release.yml"))
	})
}
