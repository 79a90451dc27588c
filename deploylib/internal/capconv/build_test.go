package capconv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// repoRoot is this module's top level.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// teamModule writes files into a fresh module example.com/<name> that
// requires this checkout through a replace directive and mage as a go
// tool, as capstan-init leaves a team's repository.
func teamModule(t *testing.T, name string, files []File) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mage := regexp.MustCompile(`github.com/magefile/mage (v\S+)`).FindSubmatch(gomod)
	goVer := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	mod := "module example.com/" + name + "\n\ngo " + string(goVer[1]) + "\n\ntool github.com/magefile/mage\n\nrequire (\n" +
		"\tgithub.com/capstan-deploy/capstan v0.0.0-00010101000000-000000000000\n" +
		"\tgithub.com/magefile/mage " + string(mage[1]) + "\n)\n\nreplace github.com/capstan-deploy/capstan => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	all := append([]File{{Path: "go.mod", Content: mod}, {Path: "go.sum", Content: string(sum)}}, files...)
	for _, f := range all {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goEnv is the environment of the go commands of these tests: offline,
// with go.mod completed from the module cache.
func goEnv(extra ...string) []string {
	return append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CAPSTAN_COLOR=never",
		"HOSTS=", "ROLES=", "DRY_RUN=", "VERBOSE=", "CAPSTAN_LOG_FILE=", "BRANCH="), extra...)
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%5.1fs %s %s", time.Since(start).Seconds(), name, strings.Join(args, " "))
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// TestGeneratedProjectsBuild: the Go converted from every test project
// passes go vet and builds against this module, the magefiles as mage
// compiles them.
func TestGeneratedProjectsBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is required")
	}
	for _, name := range projects {
		t.Run(name, func(t *testing.T) {
			r := convertProject(t, name)
			dir := teamModule(t, name, r.Files)
			runIn(t, dir, goEnv(), "go", "vet", "-tags", "mage", "./...")
			runIn(t, dir, goEnv(), "go", "build", "./...")
			// mage compiles the magefiles with its own main: the binary a
			// team's go tool mage runs.
			runIn(t, dir, goEnv("MAGEFILE_CACHE="+t.TempDir()), "go", "tool", "mage", "-compile", filepath.Join(dir, "deploy-bin"))
		})
	}
}

// capTrace returns the tasks cap invokes for the first time, in order,
// running cap <stage> deploy --dry-run --trace in the Capistrano project
// dir. Plugins that are not installed here are replaced by empty files
// (with stubs of the tasks the project hooks to): their tasks are not
// converted, and the comparison leaves them out.
func capTrace(t *testing.T, dir, stage string) []string {
	t.Helper()
	stubs := t.TempDir()
	for name, content := range map[string]string{
		"capistrano/bundler.rb":          "",
		"capistrano/passenger.rb":        "namespace :passenger do\n  task :restart do\n  end\nend\n",
		"capistrano/rbenv.rb":            "",
		"capistrano/rails/migrations.rb": "",
	} {
		p := filepath.Join(stubs, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	// cap writes log/capistrano.log into the project: run it on a copy.
	work := t.TempDir()
	if err := os.CopyFS(work, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cap", stage, "deploy", "--dry-run", "--trace")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "RUBYLIB="+stubs, "HOSTS=", "ROLES=", "BRANCH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cap %s deploy --dry-run --trace: %v\n%s", stage, err, out)
	}
	var seq []string
	for _, l := range strings.Split(string(out), "\n") {
		// ask's prompt ("Please enter branch (main): ") may share a line.
		if i := strings.Index(l, "** Invoke "); i >= 0 && strings.HasSuffix(l, " (first_time)") {
			seq = append(seq, strings.TrimSuffix(l[i+len("** Invoke "):], " (first_time)"))
		}
	}
	return seq
}

// flowTree returns the tasks of mage flow's tree in order, each once,
// up to deploy:failed.
func flowTree(out string) []string {
	var seq []string
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "(") {
			break
		}
		if l == "" || l == "[before]" || l == "[after]" || seen[l] {
			continue
		}
		seen[l] = true
		seq = append(seq, l)
	}
	return seq
}

// comparable keeps the names of a that b has too, leaving out git:*:
// Capistrano's git plugin hangs git:check as a before hook of
// deploy:check, registered before the project's own, where Capstan runs
// it as a step of deploy:check after them.
func comparable(a, b []string) []string {
	in := map[string]bool{}
	for _, n := range b {
		in[n] = true
	}
	var out []string
	for _, n := range a {
		if in[n] && !strings.HasPrefix(n, "git:") {
			out = append(out, n)
		}
	}
	return out
}

// TestFlowMatchesCap: for converted projects, go tool mage <stage> flow
// deploy shows the project's hooks at the places where cap <stage>
// deploy --dry-run invokes them (Capistrano 3, installed here).
func TestFlowMatchesCap(t *testing.T) {
	if _, err := exec.LookPath("cap"); err != nil {
		t.Fatal("cap is missing: apt-get install capistrano")
	}
	for _, tc := range []struct{ project, stage string }{
		{"shop", "staging"}, {"shop", "production"}, {"legacy", "production"},
		// The Capistrano half of docs/capistrano.md's deploy written both ways.
		{"../acceptance/testdata/capcompare/capistrano", "staging"},
	} {
		t.Run(tc.project+"/"+tc.stage, func(t *testing.T) {
			capDir := filepath.Join("testdata", tc.project, "cap")
			if strings.HasPrefix(tc.project, "../") {
				capDir = filepath.FromSlash(tc.project)
			}
			r, err := Convert(Options{Dir: capDir, Module: "example.com/app"})
			if err != nil {
				t.Fatal(err)
			}
			dir := teamModule(t, "app", r.Files)
			capSeq := capTrace(t, capDir, tc.stage)
			mageSeq := flowTree(runIn(t, dir, goEnv("MAGEFILE_CACHE="+t.TempDir()), "go", "tool", "mage", tc.stage, "flow", "deploy"))
			got, want := comparable(mageSeq, capSeq), comparable(capSeq, mageSeq)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("mage flow deploy\n  %s\ncap deploy --dry-run\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// The comparison covers every converted hook.
			for _, task := range []string{"deploy:restart", "deploy:migrate", "check:env", "notify:slack", "deploy:announce", "deploy:warm", "deploy:robots", "deploy:build", "app:restart"} {
				for _, n := range mageSeq {
					if n == task && !slices.Contains(got, task) {
						t.Errorf("%s is in the mage flow but not compared", task)
					}
				}
			}
			t.Logf("compared %d tasks in order: %s", len(got), strings.Join(got, " "))
		})
	}
}
