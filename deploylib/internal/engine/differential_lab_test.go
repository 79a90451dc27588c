//go:build unix

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// TestDifferentialFusedAndAlone runs the standard flows twice over
// configurations generated from a few seeds, on the same lab hosts in two
// deploy_to directories: once planned (hook-free standard tasks fused into
// one script per host) and once with every task alone (one command per
// host and task, the engine's unfused option). After every run the two
// server states (files, links, revisions.log, the lock, unfinished
// markers) and the two task-by-task reports (the console's task lines and
// each host's ✔ or ✘) must be the same: a task behaves the same whether it
// runs alone or in a script, since both run its one definition.
func TestDifferentialFusedAndAlone(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			differential(t, l, seed)
		})
	}
}

// diffScenario is what a seed generates: a configuration and the runs.
type diffScenario struct {
	linkedFiles, linkedDirs []string
	keep                    int
	deploys                 int
	rollback                bool
	fail                    string // "", "check" (a linked file missing) or "release" (releases/ read-only)
	// hooks: two declarative hooks (RemoteTask), fused in the planned
	// run, alone in the other: before deploy:check on every host, after
	// deploy:updated in the release on the primary.
	hooks bool
}

func (s diffScenario) String() string {
	return fmt.Sprintf("linked files %v, linked dirs %v, keep %d, %d deploys, rollback %v, then failing %q, declarative hooks %v",
		s.linkedFiles, s.linkedDirs, s.keep, s.deploys, s.rollback, s.fail, s.hooks)
}

func scenarioOf(seed uint64) diffScenario {
	rnd := rand.New(rand.NewPCG(seed, 7))
	s := diffScenario{keep: 1 + rnd.IntN(3), deploys: 1 + rnd.IntN(3), rollback: rnd.IntN(2) == 0}
	if rnd.IntN(2) == 0 {
		s.linkedFiles = []string{"config/secrets.yml"}
	}
	s.linkedDirs = []string{"log", "tmp/cache"}[:rnd.IntN(3)]
	s.fail = []string{"", "check", "release"}[rnd.IntN(3)]
	s.hooks = seed%2 == 0
	return s
}

func differential(t *testing.T, l *lab.Lab, seed uint64) {
	sc := scenarioOf(seed)
	t.Logf("seed %d: %v", seed, sc)
	modes := []struct {
		name    string
		unfused bool
	}{{"planned", false}, {"alone", true}}
	base := path.Dir(l.Hosts[0].DeployTo)
	dirs := map[string]string{}
	for _, m := range modes {
		dir := fmt.Sprintf("diff%d-%s", seed, m.name)
		dirs[m.name] = dir
		for _, h := range l.Hosts {
			shared := filepath.Join(h.Root, dir, "shared", "config")
			if err := os.MkdirAll(shared, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(shared, "secrets.yml"), []byte("secret of "+h.Name+"\n"), 0o600)
			chownTree(t, l, filepath.Join(h.Root, dir))
		}
	}
	t.Setenv("USER", "alice")
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	type step struct {
		task  *Task
		edit  func(*Config)
		setup func(dir string)
	}
	var steps []step
	for range sc.deploys {
		steps = append(steps, step{task: Deploy})
	}
	if sc.rollback {
		steps = append(steps, step{task: Rollback})
	}
	switch sc.fail {
	case "check":
		steps = append(steps, step{task: Deploy, edit: func(c *Config) { c.LinkedFiles = append(c.LinkedFiles, "config/missing.yml") }})
	case "release":
		// git:create_release fails on the last host, after the lock.
		steps = append(steps, step{task: Deploy, setup: func(dir string) {
			releases := filepath.Join(l.Hosts[len(l.Hosts)-1].Root, dir, "releases")
			if err := os.Chmod(releases, 0o555); err != nil {
				t.Fatal(err)
			}
		}})
	}
	for i, s := range steps {
		at = at.Add(time.Minute)
		reports := map[string]string{}
		states := map[string]string{}
		errs := map[string]string{}
		for _, m := range modes {
			deployTo := path.Join(base, dirs[m.name])
			cfg := Config{Application: "app", RepoURL: l.Repo, DeployTo: deployTo, LinkedFiles: sc.linkedFiles,
				LinkedDirs: sc.linkedDirs, KeepReleases: sc.keep}
			if s.edit != nil {
				s.edit(&cfg)
			}
			if s.setup != nil {
				s.setup(dirs[m.name])
			}
			d := NewDeployment()
			d.Configure(cfg)
			if sc.hooks {
				BeforeIn(d, Check, d.RemoteSh("diff:note", "Notes the check.", All(), InDir(deployTo), "echo checked >> hooks.log"))
				AfterIn(d, Updated, d.RemoteTask("diff:mark", "Marks the release.", Primary("app"), InRelease, "cp", "REVISION", "REVISION.hooked"))
			}
			var out, log bytes.Buffer
			unfused := m.unfused
			err := d.Start(context.Background(), s.task, WithStage(labStage(l)), WithOutput(&out), WithColor(false), WithVerbose(),
				WithClock(func() time.Time { return at }),
				func(o *runOptions) { o.runID = "run0001"; o.unfused = unfused; o.logW = &log })
			// The planned run fuses tasks, the other does not.
			if fused := strings.Contains(log.String(), "as one remote command"); fused == unfused {
				t.Fatalf("%s run: fused scripts %v, want %v", m.name, fused, !unfused)
			}
			// The failing task, not its message: a fused script writes
			// REVISION_TIME from the mirror, a task alone from the run's
			// revision, so the failed command's text may differ.
			errs[m.name] = fmt.Sprint(err)
			var te *TaskError
			if errors.As(err, &te) {
				errs[m.name] = "task " + te.Task + " failed"
			}
			reports[m.name] = taskReport(out.String(), deployTo)
			states[m.name] = serverState(t, l, dirs[m.name], deployTo)
		}
		what := fmt.Sprintf("run %d (%s)", i+1, s.task.name)
		if sc.hooks && i == 0 && (!strings.Contains(states["planned"], "hooks.log: checked") || !strings.Contains(states["planned"], "REVISION.hooked")) {
			t.Errorf("%s: the declarative hooks left no trace:\n%s", what, states["planned"])
		}
		if reports["planned"] != reports["alone"] {
			t.Errorf("%s: the task-by-task reports differ:\nplanned:\n%s\nalone:\n%s", what, reports["planned"], reports["alone"])
		}
		if states["planned"] != states["alone"] {
			t.Errorf("%s: the server states differ:\nplanned:\n%s\nalone:\n%s", what, states["planned"], states["alone"])
		}
		if errs["planned"] != errs["alone"] {
			t.Errorf("%s: the errors differ:\nplanned: %s\nalone:   %s", what, errs["planned"], errs["alone"])
		}
		wantFail := i == len(steps)-1 && sc.fail != "" || s.task == Rollback && sc.deploys < 2
		if got := errs["planned"] != "<nil>"; got != wantFail {
			t.Errorf("%s failed: %v, want %v: %s\n%s", what, got, wantFail, errs["planned"], reports["planned"])
		}
		if t.Failed() {
			return
		}
	}
}

// chownTree gives dir and everything under it to the lab's login user.
func chownTree(t *testing.T, l *lab.Lab, dir string) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", l.User, dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v\n%s", dir, err, out)
	}
}

var (
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|µs)\b`)
	statusRE   = regexp.MustCompile(`^\s*[✔✘]`)
)

// taskReport is the task-by-task report of a (verbose) run's console
// output: each task line, then its hosts' ✔ and ✘ lines in host order,
// durations removed, deployTo written $D. The hosts of
// deploy:new_release_path and git:clone are left out: in the script that
// takes the lock, the first checks its name on each host and the second
// runs its command (which clones only where no mirror is) on each host,
// where alone they read the answers of the lock and of
// deploy:check:directories.
func taskReport(out, deployTo string) string {
	var b strings.Builder
	var hosts []string
	naming := false
	flush := func() {
		slices.Sort(hosts)
		for _, h := range hosts {
			b.WriteString(h + "\n")
		}
		hosts = nil
	}
	for _, line := range strings.Split(out, "\n") {
		line = durationRE.ReplaceAllString(strings.ReplaceAll(line, deployTo, "$D"), "<t>")
		switch {
		case len(line) > 6 && line[2] == ':' && line[5] == ' ' && !strings.Contains(line[6:], " "):
			flush()
			b.WriteString(line + "\n")
			naming = strings.HasSuffix(line, " "+NewReleasePath.name) || strings.HasSuffix(line, " "+GitClone.name)
		case statusRE.MatchString(line) && !naming:
			hosts = append(hosts, strings.TrimSpace(line))
		}
	}
	flush()
	return b.String()
}

// serverState lists what every lab host holds under dir: each directory,
// each link and its target, each file and its content (a gzip archive and
// the mirror's insides by name only), deployTo written $D.
func serverState(t *testing.T, l *lab.Lab, dir, deployTo string) string {
	t.Helper()
	var lines []string
	for _, h := range l.Hosts {
		root := filepath.Join(h.Root, dir)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			line := h.Name + " " + rel
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				line += " -> " + target
			case e.IsDir():
				line += "/"
				if rel == "repo" {
					lines = append(lines, line)
					return fs.SkipDir
				}
			case strings.HasSuffix(rel, ".gz"):
			default:
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				line += ": " + strings.TrimSpace(string(data))
			}
			lines = append(lines, strings.ReplaceAll(line, deployTo, "$D"))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
