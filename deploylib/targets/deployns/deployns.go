// Package deployns holds the mage targets of the deploy: namespace
// (deploy:check, deploy:rollback, ...). A team's magefile pulls it in with
// //mage:import; it contains nothing but targets.
package deployns

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/magefile/mage/mg"
)

// Deploy is the deploy: namespace.
type Deploy mg.Namespace

// Check runs the flow's deploy:check task with its hooks (git:check, the directories, linked files, the lock): mage production deploy:check.
func (Deploy) Check(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Check)
}

// Rollback rolls back to the previous release: mage production deploy:rollback.
func (Deploy) Rollback(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Rollback)
}

// Unlock clears a stale deploy lock, showing whose it was: mage production deploy:unlock.
func (Deploy) Unlock(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Unlock)
}

// Cleanup removes old and unfinished releases: mage production deploy:cleanup.
func (Deploy) Cleanup(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Cleanup)
}

// Git is the git: namespace.
type Git mg.Namespace

// Check checks that every server can read the repository: mage production git:check.
func (Git) Check(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.GitCheck)
}
