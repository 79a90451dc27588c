package ops

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// TestMain: this package's test runs log nowhere unless a test asks
// (WithLogFile). The tests register no secret (the engine's TestMain
// checks those of its tests).
func TestMain(m *testing.M) { enginetest.MainWithoutLogFile(m) }

// What these tests share with the engine's (more in enginetest).
type (
	syncWriter = enginetest.SyncWriter
	hookConn   = enginetest.HookConn
)

// isolate returns a Deployment of its own for one test, configured with
// cfg, whose runs see an environment of their own (USER=alice, no log
// file; set more with setenv) and a clock of their own unless the test
// gives one with WithClock (enginetest.Clocks): tests that use it can run
// in parallel, and what they print never depends on the wall clock.
func isolate(t *testing.T, cfg engine.Config) *engine.Deployment {
	t.Helper()
	d := engine.NewDeployment()
	d.Configure(cfg)
	env := enginetest.NewEnv(t, d, map[string]string{"USER": "alice", "CAPSTAN_LOG_FILE": "off"})
	engine.Isolate(d, env.Get, enginetest.Clocks())
	return d
}

// setenv sets k to v in the environment that d's runs read.
func setenv(d *engine.Deployment, k, v string) { enginetest.EnvOf(d).Set(k, v) }

// testConfig is the configuration of the tests' shop application.
func testConfig() engine.Config {
	return engine.Config{Application: "shop", RepoURL: "git@example.com:acme/shop.git", DeployTo: "/srv/shop", Branch: "main",
		LinkedFiles: []string{"config/secrets.yml"}, LinkedDirs: []string{"log", "tmp/pids"}}
}

// appStage is a stage named test of hosts, all of role app.
func appStage(hosts ...string) engine.Stage {
	st := engine.Stage{Name: "test"}
	for _, h := range hosts {
		st.Servers = append(st.Servers, engine.Server{Host: h, Roles: []string{"app"}})
	}
	return st
}

// perHostDialer answers each host from its own Recorder; a host with no
// Recorder cannot be reached.
func perHostDialer(recs map[string]*backend.Recorder) engine.Option {
	dial := enginetest.PerHost(recs)
	return engine.WithDialer(func(ctx context.Context, s engine.Server) (backend.Conn, error) { return dial(s.Host) })
}

// deploy runs the deploy flow on st with a clock that stands at start.
func deploy(t *testing.T, d *engine.Deployment, st engine.Stage, flow *engine.Task, start time.Time) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := d.Start(context.Background(), flow, engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false),
		engine.WithClock(func() time.Time { return start }))
	return out.String(), err
}
