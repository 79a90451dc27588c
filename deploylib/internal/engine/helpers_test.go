package engine

import (
	"bytes"
	"context"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// What these tests share with the operator tools' (package ops).
var (
	golden     = enginetest.Golden
	fixedClock = enginetest.FixedClock
	newGitRepo = enginetest.NewGitRepo
	gitIn      = enginetest.GitIn
	commit     = enginetest.Commit
	assertFile = enginetest.AssertFile
)

type syncWriter = enginetest.SyncWriter

// isolate returns a Deployment of its own for one test, configured with
// cfg, whose runs see an environment of their own (USER=alice and nothing
// else; set more with setenv) instead of the process's: tests that use it
// can run in parallel.
//
// Its runs also read a clock of their own unless the test gives one with
// WithClock ([enginetest.Clocks]): what they print never depends on the
// wall clock. A test that needs time to pass says so with
// WithClock(time.Now).
func isolate(t *testing.T, cfg Config) *Deployment {
	t.Helper()
	d := NewDeployment()
	d.Configure(cfg)
	Isolate(d, enginetest.NewEnv(t, d, map[string]string{"USER": "alice"}).Get, enginetest.Clocks())
	return d
}

// setenv sets k to v in the environment that d's runs read.
func setenv(d *Deployment, k, v string) { enginetest.EnvOf(d).Set(k, v) }

// perHostDialer answers each host from its own Recorder; a host with no
// Recorder cannot be reached.
func perHostDialer(recs map[string]*backend.Recorder) Option {
	dial := enginetest.PerHost(recs)
	return WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return dial(s.Host) })
}

// recorderRun starts task against stage with a Recorder shared by all
// hosts, and returns the recorder, the console output and the error.
func recorderRun(t *testing.T, d *Deployment, st Stage, task *Task, rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	rec := backend.NewRecorder("", rules...)
	var out bytes.Buffer
	err := d.Start(context.Background(), task,
		WithStage(st),
		WithOutput(&out),
		WithColor(false),
		WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001" },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }),
	)
	return rec, out.String(), err
}

// testTask returns a task that runs fn, registered nowhere: a test starts
// it as the root of a run.
func testTask(name string, fn func(context.Context) error) *Task {
	return &Task{name: name, doc: "a test's task", action: fn}
}
