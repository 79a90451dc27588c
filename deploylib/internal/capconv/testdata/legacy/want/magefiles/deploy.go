//go:build mage

// Deploys blog with Capstan. Converted from its Capistrano project (Capfile,
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
	"cmp"
	"context"
	"os"
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
	_ "example.com/legacy/stages" // production
)

func init() {
	deploylib.Configure(deploylib.Config{
		Application: "blog",
		RepoURL:     "https://github.com/acme/blog.git",
		Branch:      cmp.Or(os.Getenv("BRANCH"), "master"),
		DeployTo:    "/var/www/blog", // Capistrano's default deploy_to
		LinkedFiles: []string{"config/secrets.yml", ".env"},
		LinkedDirs:  []string{"log", "uploads"},
		Env: map[string]string{
			"PATH":     "/opt/blog/bin:$PATH",
			"NODE_ENV": "production",
		},
		Settings: map[string]string{
			"app_port":   "3000",
			"rbenv_ruby": "3.2.2",
			"workers":    strings.Join([]string{"web", "jobs"}, " "),
		},
	})
	deploylib.DeclareSetting("app_port", "converted from Capistrano's set :app_port (config/deploy.rb:9)")
	deploylib.DeclareSetting("rbenv_ruby", "converted from Capistrano's set :rbenv_ruby (config/deploy.rb:6)")
	deploylib.DeclareSetting("workers", "converted from Capistrano's set :workers (config/deploy.rb:10)")
	deploylib.Before(DeployWarm, DeployRobots)              // config/deploy.rb:22: task deploy:warm => robots
	deploylib.Before(deploylib.Publishing, DeployAnnounce)  // config/deploy.rb:42
	deploylib.After(deploylib.Published, DeployWarm)        // config/deploy.rb:48
	deploylib.After(deploylib.Finishing, deploylib.Cleanup) // config/deploy.rb:49
}

// Not translated (capstan-init -from-capistrano):
//
// TODO(capstan-init): Capfile:5: plugin capistrano/rails/migrations has no Go equivalent: its deploy:migrate is not converted; write it as a task on deploylib.Primary("db") hung After deploylib.Updated
//	require 'capistrano/rails/migrations'
// TODO(capstan-init): Capfile:6: plugin capistrano/rbenv has no Go equivalent: rbenv's command prefixes are not converted; set PATH or RBENV_VERSION in Config.Env
//	require 'capistrano/rbenv'
// TODO(capstan-init): config/deploy.rb:7: default_env PATH: SSHKit let the remote shell expand $ in the value; Capstan exports it as written
//	set :default_env, { path: "/opt/blog/bin:$PATH", 'NODE_ENV' => 'production' }
// TODO(capstan-init): config/deploy.rb:12: set :build_host not translated: the value is not a literal, fetch or ENV
//	set :build_host, -> { `hostname`.strip }

// LogsTail is the Capistrano task logs:tail (lib/capistrano/tasks/logs.rake:3).
var LogsTail = deploylib.NewTask("logs:tail", "Tail the application log", logsTail)

// DeployRobots is the Capistrano task deploy:robots (config/deploy.rb:16).
var DeployRobots = deploylib.NewTask("deploy:robots", "Upload the robots file", deployRobots)

// DeployWarm is the Capistrano task deploy:warm (config/deploy.rb:22).
var DeployWarm = deploylib.NewTask("deploy:warm", "converted from Capistrano", deployWarm)

// DeployAnnounce is the Capistrano task deploy:announce (config/deploy.rb:42).
var DeployAnnounce = deploylib.NewTask("deploy:announce", "converted from Capistrano", deployAnnounce)

// Status is the Capistrano task status (config/deploy.rb:52).
var Status = deploylib.NewTask("status", "converted from Capistrano", status)

// logsTail is the body of the Capistrano task logs:tail (lib/capistrano/tasks/logs.rake:3).
func logsTail(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		if err := h.Sh(ctx, "tail -n 100 "+shell.Quote(h.SharedPath())+"/log/production.log"); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// deployRobots is the body of the Capistrano task deploy:robots (config/deploy.rb:16).
func deployRobots(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("web"), func(ctx context.Context, h *deploylib.Host) error {
		if err := uploadFile(ctx, h, "config/robots.txt", h.ReleasePath()+"/public/robots.txt"); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// deployWarm is the body of the Capistrano task deploy:warm (config/deploy.rb:22).
func deployWarm(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.Roles("web"), func(ctx context.Context, h *deploylib.Host) error {
		if ok, err := h.Test(ctx, "curl", "-fsS", "http://localhost:"+deploylib.Setting(ctx, "app_port", "")+"/health"); err != nil {
			return err
		} else if ok {
			deploylib.Logf(ctx, "%s", h.Name()+" is warm")
		} else {
			deploylib.Logf(ctx, "%s", h.Name()+" is cold")
		}
		{
			h1 := h.As("www-data")
			if err := h1.Execute(ctx, "touch", h1.SharedPath()+"/warm"); err != nil {
				return err
			}
		}
		revision, err := h.Capture(ctx, "cat", h.ReleasePath()+"/REVISION")
		if err != nil {
			return err
		}
		{
			h2 := h.WithSecretFromEnv("DATABASE_URL")
			// TODO(capstan-init): config/deploy.rb:34: execute: fetch(:build_host) of a setting whose value was not translated
			//	execute :echo, fetch(:build_host)
			_ = h2 // nothing above was translated
		}
		secret3, err := deploylib.SecretFromEnv("BLOG_API_TOKEN")
		if err != nil {
			return err
		}
		{
			h4 := h.WithSecretEnv("API_TOKEN", secret3)
			if err := h4.Execute(ctx, "curl", "-fsS", "-X", "POST", "https://example.com/deploys/"+revision); err != nil {
				return err
			}
		}
		return nil
	}, deploylib.InGroups(2, time.Duration(1.5*float64(time.Second)))); err != nil {
		return err
	}
	return nil
}

// deployAnnounce is the body of the Capistrano task deploy:announce (config/deploy.rb:42).
func deployAnnounce(ctx context.Context) error {
	if err := deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
		if err := h.Execute(ctx, "logger", "deploying "+deploylib.CurrentRun(ctx).Config.Application+" "+deploylib.CurrentRun(ctx).Revision().Branch); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// status is the body of the Capistrano task status (config/deploy.rb:52).
func status(ctx context.Context) error {
	if err := deploylib.Invoke(ctx, DeployRobots); err != nil {
		return err
	}
	if err := deploylib.On(ctx, deploylib.Primary("db"), func(ctx context.Context, h *deploylib.Host) error {
		if _, err := h.Test(ctx, "systemctl", "status", "postgresql"); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	// TODO(capstan-init): config/deploy.rb:57: run_locally runs commands on this machine: write them with os/exec in the task
	//	run_locally do
	//	  execute :git, :status
	//	end
	// TODO(capstan-init): config/deploy.rb:60: not translated: a method call on a value
	//	roles(:web).each do |h|
	//	  puts h
	//	end
	return nil
}

// Logs is the Capistrano namespace logs: go tool mage <stage> logs:<task>.
type Logs mg.Namespace

// Tail runs the Capistrano task logs:tail: Tail the application log.
func (Logs) Tail(ctx context.Context) error { return deploylib.Start(ctx, LogsTail) }

// uploadFile copies the local file to remote on h, as Capistrano's upload!
// does: the file's contents are streamed over the SSH connection.
func uploadFile(ctx context.Context, h *deploylib.Host, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return h.Stream(ctx, shell.Raw("cat > "+shell.Quote(remote)), f)
}
