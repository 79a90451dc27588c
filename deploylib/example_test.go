package deploylib_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
)

func ExampleParseAddress() {
	for _, s := range []string{"deploy@web1.example.com", "db1.example.com:2222", "deploy@[2001:db8::1]:2222"} {
		a, err := deploylib.ParseAddress(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("user=%q host=%q port=%d\n", a.User, a.Host, a.Port)
	}
	// Output:
	// user="deploy" host="web1.example.com" port=0
	// user="" host="db1.example.com" port=2222
	// user="deploy" host="2001:db8::1" port=2222
}

// A hook is a plain Go function hung on a standard task. Inside it, On
// runs work on the selected hosts and returns when all are done.
func ExampleAfter() {
	migrate := func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.Primary("db"), func(ctx context.Context, h *deploylib.Host) error {
			return h.Within(h.ReleasePath()).Execute(ctx, "./bin/migrate", "up")
		})
	}
	deploylib.After(deploylib.Updated, migrate)
}

func ExamplePrintFlow() {
	deploylib.PrintFlow(os.Stdout, deploylib.Rollback)
	// Output:
	// deploy:rollback
	//   deploy:starting
	//     deploy:check
	//       git:check
	//       deploy:check:directories
	//       deploy:lock
	//     deploy:set_previous_revision
	//   deploy:started
	//   deploy:reverting
	//     deploy:revert_release
	//   deploy:reverted
	//   deploy:publishing
	//     deploy:symlink:release
	//   deploy:published
	//   deploy:finishing_rollback
	//     deploy:cleanup_rollback
	//   deploy:finished
	//     deploy:log_revision
	// (when a task above fails)
	// deploy:failed
}

// A Deployment of its own holds a configuration and hooks apart from the
// package-level ones, so that tests can run side by side; a run started
// with its Start sees only what was registered on it.
func ExampleDeployment() {
	d := deploylib.NewDeployment()
	d.Configure(deploylib.Config{Application: "shop", RepoURL: "git@example.com:acme/shop.git", DeployTo: "/srv/shop"})
	notify := d.NewTask("chat:notify", "tells the team", func(ctx context.Context) error { return nil })
	deploylib.AfterIn(d, deploylib.Published, notify)

	t, err := d.TaskByName("deploy:published")
	if err != nil {
		panic(err)
	}
	fmt.Println("this deployment:")
	d.PrintFlow(os.Stdout, t)
	fmt.Println("the package-level one:")
	deploylib.PrintFlow(os.Stdout, t)
	// Output:
	// this deployment:
	// deploy:published
	//   [after]
	//     chat:notify
	// the package-level one:
	// deploy:published
}

// A hook that only runs a command on some hosts can be declared: the
// planner runs it inside the deploy's script on each host, so it costs no
// round trip of its own. Run alone (mage <stage> task app:restart), it
// sends its command to the hosts it selects, which the Recorder shows.
func ExampleRemoteTask() {
	d := deploylib.NewDeployment()
	d.Configure(deploylib.Config{Application: "shop", RepoURL: "git@example.com:acme/shop.git", DeployTo: "/srv/shop"})
	restart := d.RemoteTask("app:restart", "Restarts the app.", deploylib.Roles("app"), deploylib.InCurrent, "touch", "tmp/restart.txt")
	deploylib.AfterIn(d, deploylib.Published, restart) // fused into the deploy's last script

	rec := backend.NewRecorder("")
	err := d.Start(context.Background(), restart, deploylib.WithOutput(io.Discard),
		deploylib.WithStage(deploylib.Stage{Name: "production", Servers: []deploylib.Server{
			{Host: "web1", Roles: []string{"app"}}, {Host: "db1", Roles: []string{"db"}}}}),
		deploylib.WithDialer(func(ctx context.Context, s deploylib.Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
	if err != nil {
		panic(err)
	}
	for _, c := range rec.Log() {
		fmt.Println(c.Host, c.Command)
	}
	// Output:
	// web1 cd /srv/shop/current && touch tmp/restart.txt
}
