// Command capstan-init sets a Go repository up for Capstan, as cap install
// does for Capistrano. Run it at the top level of your module:
//
//	go run github.com/capstan-deploy/capstan/deploylib/cmd/capstan-init@latest
//
// It writes magefiles/deploy.go (configuration and example hooks),
// magefiles/deploy_test.go (a test of those hooks: go test -tags mage
// ./magefiles/), stages/production.go and stages/staging.go (the servers),
// stages/local.go (the local stage: go tool mage local deploy, no server),
// each with comments, and .vscode/settings.json (the mage build tag for
// gopls), then adds Capstan and mage (as a go tool) to go.mod. It never
// overwrites a file without -force: if any of the Go files exists, it
// writes nothing; an existing .vscode/settings.json is kept, and what it
// should hold printed.
//
// Coming from Capistrano, -from-capistrano DIR converts the Capistrano
// project in DIR (Capfile, config/deploy.rb, config/deploy/*.rb,
// lib/capistrano/tasks/*.rake) into magefiles/deploy.go and one
// stages/<stage>.go per Capistrano stage, and prints what it could not
// translate (file:line and why); each of those is also a TODO(capstan-init)
// comment in the Go, holding the Ruby line.
//
// Flags:
//
//	-dir        the module's top level (default ".")
//	-stages     the stages to write, comma-separated (default production,staging;
//	            with -from-capistrano, every config/deploy/*.rb)
//	-from-capistrano DIR  convert the Capistrano project in DIR
//	-force      overwrite magefiles/deploy.go and stage files that exist
//	-app        the application's name (default: the module path's last element)
//	-repo       the repository the servers clone (default: git remote "origin")
//	-branch     the branch to deploy (default: the checked-out branch)
//	-deploy-to  the directory on the servers (default /srv/<app>)
//	-version    the Capstan version to require (default: this program's)
//	-no-go-mod  leave go.mod alone and print the go commands to run
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/scaffold"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is capstan-init with its arguments; it returns the exit status: 0,
// 1 for a failure, 2 for bad flags, 3 when files exist.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o scaffold.Options
	o.Out = stdout
	fs := flag.NewFlagSet("capstan-init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Dir, "dir", ".", "the module's top level (where go.mod is)")
	fs.StringVar(&o.Application, "app", "", "the application's name (default: the last element of the module path)")
	fs.StringVar(&o.RepoURL, "repo", "", `the repository the servers clone (default: git remote "origin")`)
	fs.StringVar(&o.Branch, "branch", "", "the branch to deploy (default: the checked-out branch)")
	fs.StringVar(&o.DeployTo, "deploy-to", "", "the directory on the servers (default /srv/<app>)")
	fs.StringVar(&o.Version, "version", "", "the Capstan version to require (default: this program's own, else latest)")
	fs.BoolVar(&o.SkipGoMod, "no-go-mod", false, "leave go.mod alone and print the go commands to run")
	stages := fs.String("stages", "", "the stages to write, comma-separated (default production,staging; with -from-capistrano every config/deploy/*.rb)")
	fs.StringVar(&o.FromCapistrano, "from-capistrano", "", "convert the Capistrano project in this directory (Capfile, config/deploy.rb, config/deploy/*.rb, lib/capistrano/tasks)")
	fs.BoolVar(&o.Force, "force", false, "overwrite magefiles/deploy.go and stage files that exist")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run github.com/capstan-deploy/capstan/deploylib/cmd/capstan-init@latest [flags]\n\n"+
			"Writes magefiles/deploy.go and deploy_test.go, stages/production.go, staging.go and local.go, and\n"+
			".vscode/settings.json, and adds Capstan and mage to go.mod.\n"+
			"With -from-capistrano DIR, converts that Capistrano project instead.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *stages != "" {
		for _, s := range strings.Split(*stages, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Stages = append(o.Stages, s)
			}
		}
	}
	if o.FromCapistrano != "" && (o.Application != "" || o.RepoURL != "" || o.Branch != "" || o.DeployTo != "") {
		fmt.Fprintln(stderr, "capstan-init: -app, -repo, -branch and -deploy-to come from the Capistrano project with -from-capistrano; edit the result instead")
		return 2
	}
	if err := scaffold.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, "capstan-init:", err)
		if errors.Is(err, scaffold.ErrExists) {
			return 3
		}
		return 1
	}
	return 0
}
