// Package targets holds Capstan's mage targets. A team's magefile pulls it
// in with //mage:import; it contains nothing but targets, because mage
// makes a target of every exported function of target shape.
//
// The deploy: namespace (deploy:check, deploy:rollback, ...) lives in
// package deployns, which the magefile imports the same way.
package targets

import (
	"context"
	"fmt"
	"os"

	"github.com/capstan-deploy/capstan/deploylib"
)

// Deploy deploys the selected stage: mage production deploy.
func Deploy(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Deploy)
}

// Rollback rolls the selected stage back to the previous release (or
// ROLLBACK_RELEASE=<name>): mage production rollback.
func Rollback(ctx context.Context) error {
	return deploylib.Start(ctx, deploylib.Rollback)
}

// Flow prints the deploy or rollback flow (or any task) with every hook: mage flow deploy.
func Flow(name string) error {
	t, err := deploylib.TaskByName(name)
	if err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	return deploylib.PrintFlow(os.Stdout, t)
}

// Tasks lists the standard and team tasks with the first sentence of their doc, in the order the flows run them: mage tasks.
func Tasks() error {
	return deploylib.PrintTasks(os.Stdout)
}

// Task runs standard or team tasks by name, with their hooks, in one run (several separated by spaces or commas): mage production task "deploy:new_release_path git:create_release".
func Task(ctx context.Context, names string) error {
	tasks, err := deploylib.TasksByName(names)
	if err != nil {
		return fmt.Errorf("task: %w", err)
	}
	return deploylib.StartTasks(ctx, tasks)
}

// Doctor checks every server without changing anything and prints a verdict per host with what to fix: mage production doctor.
func Doctor(ctx context.Context) error {
	return deploylib.Diagnose(ctx)
}

// Releases lists each host's releases, newest first, with the current one, its revision, who deployed it and when: mage production releases.
func Releases(ctx context.Context) error {
	return deploylib.ShowReleases(ctx)
}

// Run runs a shell command on the selected hosts, in the current release (HOSTS and ROLES apply): mage production run "uptime".
func Run(ctx context.Context, command string) error {
	return deploylib.RunAdHoc(ctx, command)
}

// SSH opens an interactive shell on a host in the current release: mage production ssh [-host=web2].
func SSH(ctx context.Context, host *string) error {
	h := ""
	if host != nil {
		h = *host
	}
	return deploylib.OpenShell(ctx, h)
}

// Download copies a file from each selected host into DIR/<host>/ (relative to the current release, or absolute; HOSTS and ROLES apply): mage production download log/production.log ./logs.
func Download(ctx context.Context, remote, dir string) error {
	return deploylib.DownloadFiles(ctx, remote, dir)
}

// Dryrun makes the tasks after it print every command and run nothing: mage production dryrun deploy.
func Dryrun() error {
	// The run reads DRY_RUN when it starts, as if the user had set it.
	return os.Setenv("DRY_RUN", "1")
}

// Logs follows a file on the selected hosts (tail -F, relative to the current release), lines prefixed by host, until Ctrl-C: mage production logs log/production.log.
func Logs(ctx context.Context, file string) error {
	return deploylib.FollowLog(ctx, file)
}

// Config prints the resolved configuration of the stage, secrets redacted: mage production config.
func Config(ctx context.Context) error {
	return deploylib.ShowConfig(ctx)
}
