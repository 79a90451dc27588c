//go:build mage

// The orders service's deploy: what config/deploy.rb and
// lib/capistrano/tasks/app.rake say in the Capistrano version.
package main

import (
	"context"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets"
	//mage:import
	_ "example.com/orders/stages"
)

func init() {
	deploylib.Configure(deploylib.Config{
		Application:  "orders",
		RepoURL:      "git@github.com:acme/orders.git",
		DeployTo:     "/srv/orders",
		KeepReleases: 5,
		LinkedFiles:  []string{"config/orders.env"},
		LinkedDirs:   []string{"log", "tmp/pids"},
		Env:          map[string]string{"GOFLAGS": "-mod=readonly"},
	})
	deploylib.DeclareSetting("systemd_unit", "the systemd unit app:restart restarts (default orders)")
	deploylib.After(deploylib.Updated, build)
	deploylib.After(deploylib.Updated, migrate)
	deploylib.After(deploylib.Published, AppRestart)
}

// build builds the service binary in the new release.
func build(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.ReleaseHosts(), func(ctx context.Context, h *deploylib.Host) error {
		return h.Within(h.ReleasePath()).Execute(ctx, "go", "build", "-o", "bin/orders", "./cmd/orders")
	})
}

// migrate runs the database migrations on the primary db server. The
// database URL holds a password: it comes from the deployer's environment.
func migrate(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Primary("db"), func(ctx context.Context, h *deploylib.Host) error {
		return h.Within(h.ReleasePath()).WithSecretFromEnv("DATABASE_URL").Execute(ctx, "./bin/orders", "migrate", "up")
	})
}

// AppRestart restarts the service, one server at a time: mage staging task app:restart.
var AppRestart = deploylib.NewTask("app:restart", "Restarts the service, one server at a time.", func(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		unit := h.WithEnv("UNIT", deploylib.Setting(ctx, "systemd_unit", "orders"))
		return unit.Sh(ctx, `sudo systemctl restart "$UNIT" && curl -fsS --retry 5 --retry-connrefused http://localhost:8080/healthz > /dev/null`)
	}, deploylib.InSequence(5*time.Second))
})
