package deploylib

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

var update = flag.Bool("update", false, "rewrite golden files")

// isolate resets the package's registries for one test and restores them
// afterwards.
func isolate(t *testing.T, cfg Config) {
	t.Helper()
	regMu.Lock()
	oldCfg, oldStage, oldErr, oldHooks := configured, stage, stageErr, hooks
	regMu.Unlock()
	resetHooks()
	resetStage()
	Configure(cfg)
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "VERBOSE", "MAGEFILE_VERBOSE", "BRANCH"} {
		t.Setenv(k, "")
	}
	t.Setenv("USER", "alice")
	t.Cleanup(func() {
		regMu.Lock()
		configured, stage, stageErr, hooks = oldCfg, oldStage, oldErr, oldHooks
		regMu.Unlock()
	})
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
func recorderRun(t *testing.T, st Stage, task *Task, rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	rec := backend.NewRecorder("", rules...)
	var out bytes.Buffer
	err := Start(context.Background(), task,
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
