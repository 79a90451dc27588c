package engine

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

var update = flag.Bool("update", false, "rewrite golden files")

// isolate returns a Deployment of its own for one test, configured with
// cfg, whose runs see an environment of their own (USER=alice and nothing
// else; set more with setenv) instead of the process's: tests that use it
// can run in parallel.
//
// Its runs also read a clock of their own unless the test gives one with
// WithClock ([testClocks]): what they print never depends on the wall
// clock. A test that needs time to pass says so with WithClock(time.Now).
func isolate(t *testing.T, cfg Config) *Deployment {
	t.Helper()
	d := NewDeployment()
	d.Configure(cfg)
	d.clock = testClocks()
	env := &testEnv{vars: map[string]string{"USER": "alice"}}
	d.getenv = env.get
	testEnvs.Store(d, env)
	t.Cleanup(func() { testEnvs.Delete(d) })
	return d
}

// testEnv is the environment the runs of a test's Deployment read.
type testEnv struct {
	mu   sync.Mutex
	vars map[string]string
}

func (e *testEnv) get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

// testEnvs maps each Deployment made by isolate to its environment.
var testEnvs sync.Map

// setenv sets k to v in the environment that d's runs read.
func setenv(d *Deployment, k, v string) {
	e, _ := testEnvs.Load(d)
	e.(*testEnv).mu.Lock()
	defer e.(*testEnv).mu.Unlock()
	e.(*testEnv).vars[k] = v
}

// testClocks returns the clock factory of an isolated Deployment: the
// n-th run (from 0) sees the time stand still at 2026-11-25 21:40:42 UTC
// plus n minutes, so every duration it prints is 0.000s (00:00 elapsed),
// and runs made one after the other get release names in the order they
// started.
func testClocks() func() func() time.Time {
	var runs atomic.Int64
	base := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	return func() func() time.Time {
		now := base.Add(time.Duration(runs.Add(1)-1) * time.Minute)
		return func() time.Time { return now }
	}
}

// fixedClock returns a clock starting at 2026-11-25 21:40:42 UTC that
// advances by step on every call.
func fixedClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	return func() time.Time {
		now := t
		t = t.Add(step)
		return now
	}
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

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run go test ./deploylib -update and review the diff\n--- got\n%s", name, got)
	}
}

// testTask returns a task that runs fn, registered nowhere: a test starts
// it as the root of a run.
func testTask(name string, fn func(context.Context) error) *Task {
	return &Task{name: name, doc: "a test's task", action: fn}
}
