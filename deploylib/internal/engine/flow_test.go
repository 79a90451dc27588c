package engine

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestFlowMatchesSeed registers hooks named like the seed's example and
// checks that every line of the seed's trees appears in mage flow's
// output, in the same order and at the same depth.
func TestFlowMatchesSeed(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{})
	noop := func(context.Context) error { return nil }
	task := func(name string) *Task { return d.NewTask(name, "", noop) }
	BeforeIn(d, Starting, task("deploy:ensure_stage"))
	BeforeIn(d, Starting, task("deploy:set_shared_assets"))
	BeforeIn(d, Updated, task("deploy:bundle"))
	AfterIn(d, Updated, task("deploy:migrate"))
	AfterIn(d, Updated, task("deploy:compile_assets"))
	AfterIn(d, Updated, task("deploy:normalise_assets"))
	AppendIn(d, Publishing, task("deploy:restart"))
	AfterIn(d, Reverted, task("deploy:rollback_assets"))

	for _, tc := range []struct {
		flow *Task
		seed string
	}{{Deploy, "testdata/seed-deploy.txt"}, {Rollback, "testdata/seed-rollback.txt"}} {
		t.Run(tc.flow.Name(), func(t *testing.T) {
			var b strings.Builder
			if err := d.PrintFlow(&b, tc.flow); err != nil {
				t.Fatal(err)
			}
			seed, err := os.ReadFile(tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			want := strings.Split(strings.TrimRight(string(seed), "\n"), "\n")
			// The root line names the flow: the seed calls the rollback
			// tree "deploy" too, Capstan names it deploy:rollback.
			if got[0] != tc.flow.Name() {
				t.Fatalf("first line %q, want %q", got[0], tc.flow.Name())
			}
			assertSubtree(t, got[1:], want[1:])
		})
	}
}

// assertSubtree checks that want is a subsequence of got where each
// matched line keeps its indentation, and each line's parent in want is its
// parent in got.
func assertSubtree(t *testing.T, got, want []string) {
	t.Helper()
	parentOf := func(lines []string, i int) string {
		d := depth(lines[i])
		for j := i - 1; j >= 0; j-- {
			if depth(lines[j]) < d {
				return strings.TrimSpace(lines[j])
			}
		}
		return ""
	}
	j := 0
	for i, w := range want {
		for j < len(got) && got[j] != w {
			j++
		}
		if j == len(got) {
			t.Fatalf("seed line %d %q not found in order in:\n%s", i+1, w, strings.Join(got, "\n"))
		}
		if pg, pw := parentOf(got, j), parentOf(want, i); pg != pw {
			t.Errorf("%q is under %q, the seed has it under %q", strings.TrimSpace(w), pg, pw)
		}
		j++
	}
}

func depth(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

func TestPrintFlowDefault(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{})
	var b strings.Builder
	if err := d.PrintFlow(&b, Deploy); err != nil {
		t.Fatal(err)
	}
	golden(t, "flow-deploy.golden", b.String())
}

func TestTaskByName(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	restart := d.NewTask("app:restart", "", func(context.Context) error { return nil })
	for name, want := range map[string]*Task{"deploy": Deploy, "rollback": Rollback, "deploy:rollback": Rollback,
		"git:create_release": GitCreateRelease, "app:restart": restart} {
		if got, err := d.TaskByName(name); err != nil || got != want {
			t.Errorf("TaskByName(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := d.TaskByName("deplyo"); err == nil || !strings.Contains(err.Error(), `"deplyo"`) || !strings.Contains(err.Error(), "app:restart") {
		t.Errorf("TaskByName(deplyo) error = %v, want one naming it and the team's tasks", err)
	}
	if _, err := TaskByName("app:restart"); err == nil {
		t.Errorf("the default Deployment found a task made on another one")
	}
}

func notifyChat(context.Context) error { return nil }
func strayHook(context.Context) error  { return nil }

// TestFlowShowsFailedAndOrphanHooks: mage flow deploy shows the hooks on
// deploy:failed, and the hooks hung on tasks no flow runs, and fails for
// the latter.
func TestFlowShowsFailedAndOrphanHooks(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{})
	AfterIn(d, Failed, notifyChat)
	var b strings.Builder
	if err := d.PrintFlow(&b, Deploy); err != nil {
		t.Fatal(err)
	}
	if want := "(when a task above fails)\ndeploy:failed\n  [after]\n    engine.notifyChat\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("mage flow deploy:\n%s\nwant it to end with\n%s", b.String(), want)
	}

	BeforeIn(d, UploadCreateRelease, strayHook) // the git strategy never runs it
	b.Reset()
	err := d.PrintFlow(&b, Deploy)
	if want := "(never run: hung on tasks that no flow runs; every run refuses to start)\n  engine.strayHook, before upload:create_release\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("mage flow deploy:\n%s\nwant it to end with\n%s", b.String(), want)
	}
	if err == nil || !strings.Contains(err.Error(), "engine.strayHook is registered before task upload:create_release, which no flow runs") {
		t.Errorf("PrintFlow error = %v, want one naming the stray hook", err)
	}
}
