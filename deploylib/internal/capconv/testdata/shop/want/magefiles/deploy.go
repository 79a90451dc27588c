//go:build mage

// Deploys shop with Capstan. Converted from its Capistrano project (Capfile,
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
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/shell"
	"github.com/magefile/mage/mg"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets" // deploy, rollback, releases, run, ssh, dryrun, flow
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets/deployns" // deploy:check, deploy:rollback, ...
	//mage:import
	_ "example.com/shop/stages" // production, staging
)

func init() {
	deploylib.Configure(deploylib.Config{
		Application:  "shop",
		RepoURL:      "git@github.com:acme/shop.git",
		Branch:       "main",
		DeployTo:     "/srv/shop",
		KeepReleases: 5,
		LinkedFiles:  []string{"config/database.yml", "config/master.key"},
		LinkedDirs:   []string{"log", "tmp/pids", "tmp/cache", "public/system"},
		Settings: map[string]string{
			"rails_env":     "production",
			"slack_channel": "#deploys",
		},
	})
	deploylib.DeclareSetting("rails_env", "converted from Capistrano's set :rails_env (config/deploy.rb:20)")
	deploylib.DeclareSetting("slack_channel", "converted from Capistrano's set :slack_channel (config/deploy.rb:21)")
	deploylib.After(deploylib.Publishing, DeployRestart) // config/deploy.rb:51
	deploylib.After(deploylib.Updated, DeployMigrate)    // config/deploy.rb:52
	deploylib.Before(deploylib.Check, CheckEnv)          // config/deploy.rb:55
	deploylib.After(deploylib.Finished, NotifySlack)     // config/deploy.rb:56
}

// Not translated (capstan-init -from-capistrano):
//
// TODO(capstan-init): Capfile:10: plugin capistrano/bundler has no Go equivalent: its bundler:install (bundle install after deploy:updated) is not converted; write it as a task hung After deploylib.Updated
//	require "capistrano/bundler"
// TODO(capstan-init): Capfile:11: plugin capistrano/passenger has no Go equivalent: its passenger:restart is not converted; write it as a task hung After deploylib.Published (passenger-config restart-app, or touch tmp/restart.txt)
//	require "capistrano/passenger"
// TODO(capstan-init): config/deploy.rb:14: set :pty has no Capstan equivalent: Capstan runs commands without a terminal
//	set :pty, true
// TODO(capstan-init): config/deploy.rb:57: hook passenger:restart is neither one of the project's tasks nor a standard one (a plugin's?): not translated
//	after "deploy:published", "passenger:restart"

// CheckEnv is the Capistrano task check:env (lib/capistrano/tasks/check.rake:3).
var CheckEnv = deploylib.NewTask("check:env", "Check that the environment file exists", checkEnv)

// NotifySlack is the Capistrano task notify:slack (lib/capistrano/tasks/notify.rake:3).
var NotifySlack = deploylib.NewTask("notify:slack", "Tell the team", notifySlack)

// NotifyHosts is the Capistrano task notify:hosts (lib/capistrano/tasks/notify.rake:10).
var NotifyHosts = deploylib.NewTask("notify:hosts", "converted from Capistrano", notifyHosts)

// DeployRestart is the Capistrano task deploy:restart (config/deploy.rb:32).
var DeployRestart = deploylib.NewTask("deploy:restart", "Restart application", deployRestart)

// DeployMigrate is the Capistrano task deploy:migrate (config/deploy.rb:41).
var DeployMigrate = deploylib.NewTask("deploy:migrate", "Run the database migrations", deployMigrate)

// checkEnv is the body of the Capistrano task check:env (lib/capistrano/tasks/check.rake:3).
func checkEnv(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		if ok, err := h.TestCommand(ctx, shell.Raw("[ -f "+shell.Quote(h.SharedPath())+"/config/database.yml ]")); err != nil {
			return err
		} else if !ok {
			deploylib.Logf(ctx, "%s", "database.yml is missing on "+h.Name())
			if err := h.Execute(ctx, "false"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// notifySlack is the body of the Capistrano task notify:slack (lib/capistrano/tasks/notify.rake:3).
func notifySlack(ctx context.Context) error {
	// TODO(capstan-init): lib/capistrano/tasks/notify.rake:4: run_locally runs commands on this machine: write them with os/exec in the task
	//	run_locally do
	//	  execute :echo, "deployed", fetch(:application)
	//	end
	deploylib.Logf(ctx, "%s", "deployed "+deploylib.CurrentRun(ctx).Config.Application+" to "+deploylib.CurrentRun(ctx).Stage.Name)
	return nil
}

// notifyHosts is the body of the Capistrano task notify:hosts (lib/capistrano/tasks/notify.rake:10).
func notifyHosts(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
		site := h.Property("nginx_site")
		uptime, err := h.Capture(ctx, "uptime")
		if err != nil {
			return err
		}
		deploylib.Logf(ctx, "%s", h.Name()+": "+uptime+" "+site)
		if err := uploadString(ctx, h, "site="+site+"\n", h.SharedPath()+"/site.env"); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// deployRestart is the body of the Capistrano task deploy:restart (config/deploy.rb:32).
func deployRestart(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		{
			h1 := h.Within(h.ReleasePath())
			if err := h1.Execute(ctx, "touch", "tmp/restart.txt"); err != nil {
				return err
			}
		}
		return nil
	}, deploylib.InSequence(5*time.Second)); err != nil {
		return err
	}
	return nil
}

// deployMigrate is the body of the Capistrano task deploy:migrate (config/deploy.rb:41).
func deployMigrate(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Primary("db"), func(ctx context.Context, h *deploylib.Host) error {
		{
			h2 := h.Within(h.ReleasePath())
			secret3, err := deploylib.SecretFromEnv("DB_PASSWORD")
			if err != nil {
				return err
			}
			{
				h4 := h2.WithEnv("RAILS_ENV", deploylib.Setting(ctx, "rails_env", "")).WithSecretEnv("DATABASE_PASSWORD", secret3)
				if err := h4.Execute(ctx, "bundle", "exec", "rake", "db:migrate"); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// Check is the Capistrano namespace check: go tool mage <stage> check:<task>.
type Check mg.Namespace

// Env runs the Capistrano task check:env: Check that the environment file exists.
func (Check) Env(ctx context.Context) error { return deploylib.Start(ctx, CheckEnv) }

// Notify is the Capistrano namespace notify: go tool mage <stage> notify:<task>.
type Notify mg.Namespace

// Slack runs the Capistrano task notify:slack: Tell the team.
func (Notify) Slack(ctx context.Context) error { return deploylib.Start(ctx, NotifySlack) }

// Hosts runs the Capistrano task notify:hosts
func (Notify) Hosts(ctx context.Context) error { return deploylib.Start(ctx, NotifyHosts) }

// uploadString writes content to remote on h, as Capistrano's
// upload! StringIO.new(content) does.
func uploadString(ctx context.Context, h *deploylib.Host, content, remote string) error {
	return h.Stream(ctx, shell.Raw("cat > "+shell.Quote(remote)), strings.NewReader(content))
}
