//go:build mage

// Deploys evil"app`id` with Capstan. Converted from its Capistrano project (Capfile,
// config/deploy.rb, lib/capistrano/tasks) by capstan-init -from-capistrano:
// every TODO(capstan-init) comment holds a Capistrano line that has no
// translation, and why.
package main

// go tool mage -l                         every task
// go tool mage flow deploy                the deploy flow with every hook
// go tool mage production dryrun deploy   print every command, run nothing
// go tool mage production deploy          deploy the stage
//
// Fast start: export MAGEFILE_HASHFAST=1 (shell profile, CI) and mage reuses
// its compiled binary instead of relinking it on every run; that binary
// refuses to run, printing the command that rebuilds it, once stages/, a
// hook's package or go.mod changed after it was built.

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/shell"
	"github.com/magefile/mage/mg"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets" // deploy, rollback, releases, run, ssh, dryrun, flow
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets/deployns" // deploy:check, deploy:rollback, ...
	//mage:import
	_ "example.com/hostile/stages" // production, qa
)

func init() {
	deploylib.Configure(deploylib.Config{
		Application: "evil\"app`id`",
		RepoURL:     "git@example.com:acme/it's \"quoted\".git",
		Branch:      "master", // Capistrano's default branch
		DeployTo:    "/srv/$(rm -rf ~)/evil\"app`id`",
		Settings: map[string]string{
			"motd":          "line one\nline two\t\"tab\" \\ back`slash` $(whoami) ${HOME} */ // \u2028 end",
			"note":          "single #{not_interpolated} \\n stays",
			"weird_heredoc": "first \"line\" with `ticks`\nsecond $(line) */\n",
		},
	})
	deploylib.DeclareSetting("motd", "converted from Capistrano's set :motd (config/deploy.rb:6)")
	deploylib.DeclareSetting("note", "converted from Capistrano's set :note (config/deploy.rb:7)")
	deploylib.DeclareSetting("weird_heredoc", "converted from Capistrano's set :weird_heredoc (config/deploy.rb:8)")
	deploylib.After(deploylib.Updated, EvilQuotes) // config/deploy.rb:28
}

// EvilQuotes is the Capistrano task evil:quotes (config/deploy.rb:15).
var EvilQuotes = deploylib.NewTask("evil:quotes", "Quotes \"everywhere\" */ and `ticks`", evilQuotes)

// evilQuotes is the body of the Capistrano task evil:quotes (config/deploy.rb:15).
func evilQuotes(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		{
			h1 := h.Within(h.ReleasePath())
			if err := h1.Execute(ctx, "echo", "it's \"quoted\" $(touch /tmp/pwned) `id` ; rm -rf / #"); err != nil {
				return err
			}
			if err := h1.Execute(ctx, "mkdir", "-p", "dir with spaces/$(id)"); err != nil {
				return err
			}
			// NOTE(capstan-init): config/deploy.rb:20: SSHKit runs a command string with spaces without the
			// within/with/as around it, and so does this line (h); h1 runs inside them.
			if err := h.Sh(ctx, "echo raw line $(date) > raw.txt"); err != nil {
				return err
			}
			// NOTE(capstan-init): config/deploy.rb:21: SSHKit runs a command string with spaces without the
			// within/with/as around it, and so does this line (h); h1 runs inside them.
			if err := h.Sh(ctx, "printf '%s' "+shell.Quote(deploylib.Setting(ctx, "motd", ""))+" > motd.txt"); err != nil {
				return err
			}
			if err := h1.Execute(ctx, "echo", deploylib.Setting(ctx, "note", ""), "*/"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// Evil is the Capistrano namespace evil: go tool mage <stage> evil:<task>.
type Evil mg.Namespace

// Quotes runs the Capistrano task evil:quotes: Quotes "everywhere" */ and `ticks`.
func (Evil) Quotes(ctx context.Context) error { return deploylib.Start(ctx, EvilQuotes) }
