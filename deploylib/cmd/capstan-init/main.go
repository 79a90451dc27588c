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
// overwrites a file: if any of the Go files exists, it writes nothing; an
// existing .vscode/settings.json is kept, and what it should hold printed.
//
// Flags:
//
//	-dir        the module's top level (default ".")
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
	"os"
	"os/signal"

	"github.com/capstan-deploy/capstan/deploylib/scaffold"
)

func main() {
	var o scaffold.Options
	flag.StringVar(&o.Dir, "dir", ".", "the module's top level (where go.mod is)")
	flag.StringVar(&o.Application, "app", "", "the application's name (default: the last element of the module path)")
	flag.StringVar(&o.RepoURL, "repo", "", `the repository the servers clone (default: git remote "origin")`)
	flag.StringVar(&o.Branch, "branch", "", "the branch to deploy (default: the checked-out branch)")
	flag.StringVar(&o.DeployTo, "deploy-to", "", "the directory on the servers (default /srv/<app>)")
	flag.StringVar(&o.Version, "version", "", "the Capstan version to require (default: this program's own, else latest)")
	flag.BoolVar(&o.SkipGoMod, "no-go-mod", false, "leave go.mod alone and print the go commands to run")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run github.com/capstan-deploy/capstan/deploylib/cmd/capstan-init@latest [flags]\n\n"+
			"Writes magefiles/deploy.go and deploy_test.go, stages/production.go, staging.go and local.go, and\n"+
			".vscode/settings.json, and adds Capstan and mage to go.mod.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := scaffold.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "capstan-init:", err)
		if errors.Is(err, scaffold.ErrExists) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}
