package freshness

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The team project of TestStaleBinaryNeverDeploys: a local stage, a stage
// with a server list, and a hook in a package outside magefiles/.
var teamFiles = map[string]string{
	"magefiles/deploy.go": `//go:build mage

package main

import (
	"github.com/capstan-deploy/capstan/deploylib"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets"
	//mage:import
	_ "example.com/shop/stages"

	"example.com/shop/hooks"
)

func init() {
	deploylib.Configure(deploylib.Config{Application: "shop", RepoURL: "https://example.com/shop.git", DeployTo: "/srv/shop", KeepReleases: 10})
	deploylib.After(deploylib.Updated, hooks.Announce)
}
`,
	"hooks/hooks.go": `package hooks

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
)

// Announce says which version of the hooks runs.
func Announce(ctx context.Context) error {
	deploylib.Logf(ctx, "hooks version 1")
	return nil
}
`,
	"stages/local.go": `package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Local deploys this repository into .deploy/local.
func Local() error {
	s, err := deploylib.LocalStage(".")
	if err != nil {
		return err
	}
	deploylib.UseStage(s)
	return nil
}
`,
	"stages/edge.go": `package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Edge is a fleet that this test never reaches.
func Edge() {
	deploylib.UseStage(deploylib.Stage{
		Name:    "edge",
		Branch:  "main",
		Servers: []deploylib.Server{{Host: "deploy@192.0.2.1", Roles: []string{"app"}, Primary: true}},
	})
}
`,
	".gitignore": "/.deploy/\n/bin/\n/log/\n",
}

// team is a team project on disk built with go tool mage.
type team struct {
	t    *testing.T
	root string
	env  []string
}

// newTeam writes the team project into a temporary directory, requiring
// this module through a replace, and commits it (the local stage deploys
// HEAD).
func newTeam(t *testing.T) *team {
	t.Helper()
	_, me, _, _ := runtime.Caller(0)
	capstan := filepath.Join(filepath.Dir(me), "..", "..", "..")
	mod, err := os.ReadFile(filepath.Join(capstan, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(capstan, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	tm := &team{t: t, root: filepath.Join(t.TempDir(), "shop")}
	// Capstan's own requirements are the team's: one module graph, and
	// its go.sum serves both, so the build needs no network.
	goMod := strings.Replace(string(mod), "module github.com/capstan-deploy/capstan", "module example.com/shop", 1) +
		"\nrequire github.com/capstan-deploy/capstan v0.0.0\n\nreplace github.com/capstan-deploy/capstan => " + capstan + "\n"
	write(t, filepath.Join(tm.root, "go.mod"), goMod)
	write(t, filepath.Join(tm.root, "go.sum"), string(sum))
	for name, content := range teamFiles {
		write(t, filepath.Join(tm.root, filepath.FromSlash(name)), content)
	}
	tm.env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MAGEFILE_") || strings.HasPrefix(kv, EnvVar+"=") || strings.HasPrefix(kv, "GOFLAGS=")
	})
	tm.env = append(tm.env, "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "NO_COLOR=1", "CAPSTAN_LOG_FILE=off",
		"MAGEFILE_CACHE="+filepath.Join(filepath.Dir(tm.root), "magecache"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-qm", "shop"}} {
		if out, err := tm.command(nil, "git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return tm
}

func (tm *team) command(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir = tm.root
	c.Env = append(slices.Clone(tm.env), env...)
	return c
}

// run runs name args in the project and returns its output and whether
// it succeeded.
func (tm *team) run(env []string, name string, args ...string) (string, bool) {
	tm.t.Helper()
	out, err := tm.command(env, name, args...).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		tm.t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

// deployed is what the local stage's deploys left: the releases and
// revisions.log.
func (tm *team) deployed() string {
	tm.t.Helper()
	dir := filepath.Join(tm.root, ".deploy", "local")
	entries, _ := os.ReadDir(filepath.Join(dir, "releases"))
	log, _ := os.ReadFile(filepath.Join(dir, "revisions.log"))
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Name() + "\n")
	}
	b.Write(log)
	return b.String()
}

func (tm *team) path(name string) string { return filepath.Join(tm.root, filepath.FromSlash(name)) }

// rebuildCommand returns the command a refusal names.
func rebuildCommand(t *testing.T, out string) string {
	t.Helper()
	_, after, ok := strings.Cut(out, "Rebuild it and run again with:\n")
	if !ok {
		t.Fatalf("no rebuild command in:\n%s", out)
	}
	line, _, _ := strings.Cut(after, "\n")
	return strings.TrimSpace(line)
}

// TestStaleBinaryNeverDeploys builds a team project with go tool mage,
// changes a stage's server list, a hook file outside magefiles/, go.mod
// (a Capstan upgrade) and a magefile, and runs the compiled binary and
// go tool mage with MAGEFILE_HASHFAST=1: each refuses with the command
// that rebuilds it and changes nothing; that command then deploys the new
// code. A change that is not compiled in (the application, a test file, a
// README) does not refuse.
func TestStaleBinaryNeverDeploys(t *testing.T) {
	tm := newTeam(t)
	bin := tm.path("bin/deploy")
	if out, ok := tm.run(nil, "go", "tool", "mage", "-compile", bin); !ok {
		t.Fatalf("go tool mage -compile: %s", out)
	}
	out, ok := tm.run(nil, bin, "local", "deploy")
	if !ok || !strings.Contains(out, "hooks version 1") {
		t.Fatalf("a binary built just now does not deploy (ok %v):\n%s", ok, out)
	}

	// rebuilt stands for a build of the restored sources: the binary is
	// newer than every file again.
	rebuilt := func() {
		tick(t, t.TempDir())
		now := time.Now()
		if err := os.Chtimes(bin, now, now); err != nil {
			t.Fatal(err)
		}
		if out, ok := tm.run(nil, bin, "local", "config"); !ok {
			t.Fatalf("the restored project is still refused:\n%s", out)
		}
	}
	replace := func(name, old, new string) func() {
		return func() {
			data, err := os.ReadFile(tm.path(name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(old)) {
				t.Fatalf("%s lacks %q", name, old)
			}
			write(t, tm.path(name), strings.Replace(string(data), old, new, 1))
		}
	}
	tests := []struct {
		name   string
		change func()
		args   []string
		reason string // "" for a change that must not refuse
	}{
		{"stage's server list", replace("stages/edge.go", "192.0.2.1", "192.0.2.2"), []string{"edge", "deploy"}, "stages/edge.go changed at "},
		{"hook file outside magefiles", replace("hooks/hooks.go", "version 1", "version 2"), []string{"local", "deploy"}, "hooks/hooks.go changed at "},
		{"new file in the hook package", func() { write(t, tm.path("hooks/more.go"), "package hooks\n") }, []string{"local", "deploy"}, "hooks/more.go changed at "},
		{"Capstan upgrade in go.mod", replace("go.mod", "capstan v0.0.0", "capstan v0.0.1"), []string{"local", "deploy"}, "go.mod changed at "},
		{"magefile", replace("magefiles/deploy.go", "KeepReleases: 10", "KeepReleases: 2"), []string{"local", "deploy"}, "magefiles/deploy.go changed at "},
		{"hook's test file", func() { write(t, tm.path("hooks/hooks_test.go"), "package hooks\n") }, []string{"local", "config"}, ""},
		{"application package", func() { write(t, tm.path("app/main.go"), "package main\n") }, []string{"local", "config"}, ""},
		{"README", func() { write(t, tm.path("README.md"), "# shop\n") }, []string{"local", "config"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := map[string][]byte{}
			for _, name := range []string{"stages/edge.go", "hooks/hooks.go", "go.mod", "magefiles/deploy.go"} {
				saved[name], _ = os.ReadFile(tm.path(name))
			}
			before := tm.deployed()
			tick(t, t.TempDir())
			tt.change()
			out, ok := tm.run(nil, bin, tt.args...)
			if tt.reason == "" {
				if !ok {
					t.Fatalf("refused:\n%s", out)
				}
				return
			}
			want := "go tool mage -compile " + bin + " && " + bin + " " + strings.Join(tt.args, " ")
			if ok || !strings.Contains(out, "nothing was done") || !strings.Contains(out, "\n  "+tt.reason) || rebuildCommand(t, out) != want {
				t.Errorf("ok %v, output:\n%s\nwant a refusal naming %q and the command %q", ok, out, tt.reason, want)
			}
			if strings.Contains(out, "hooks version") || strings.Contains(out, "192.0.2") {
				t.Errorf("the stale binary ran something:\n%s", out)
			}
			if after := tm.deployed(); after != before {
				t.Errorf("the refused run changed the deploy directory:\nbefore\n%s\nafter\n%s", before, after)
			}
			for name, data := range saved {
				write(t, tm.path(name), string(data))
			}
			os.Remove(tm.path("hooks/more.go"))
			rebuilt()
		})
	}

	// The command a refusal prints rebuilds the binary and deploys the
	// new hook.
	tick(t, t.TempDir())
	replace("hooks/hooks.go", "version 1", "version 2")()
	out, _ = tm.run(nil, bin, "local", "deploy")
	before := tm.deployed()
	if out, ok := tm.run(nil, "sh", "-c", rebuildCommand(t, out)); !ok || !strings.Contains(out, "hooks version 2") {
		t.Fatalf("the rebuild command (ok %v):\n%s", ok, out)
	}
	if tm.deployed() == before {
		t.Errorf("the rebuild command did not deploy")
	}

	// Through go tool mage with MAGEFILE_HASHFAST=1: mage reuses its
	// cached binary, which refuses after a change outside magefiles/.
	fast := []string{"MAGEFILE_HASHFAST=1"}
	if out, ok := tm.run(fast, "go", "tool", "mage", "local", "deploy"); !ok || !strings.Contains(out, "hooks version 2") {
		t.Fatalf("go tool mage local deploy (ok %v):\n%s", ok, out)
	}
	for _, c := range []struct {
		name   string
		change func()
		args   []string
		reason string
	}{
		{"hook file outside magefiles", replace("hooks/hooks.go", "version 2", "version 3"), []string{"local", "deploy"}, "hooks/hooks.go changed at "},
		{"stage's server list", replace("stages/edge.go", "192.0.2.1", "192.0.2.3"), []string{"edge", "deploy"}, "stages/edge.go changed at "},
	} {
		tick(t, t.TempDir())
		c.change()
		before := tm.deployed()
		out, ok := tm.run(fast, "go", "tool", "mage", c.args[0], c.args[1])
		want := "go tool mage -f " + strings.Join(c.args, " ")
		if ok || !strings.Contains(out, "\n  "+c.reason) || rebuildCommand(t, out) != want {
			t.Fatalf("HASHFAST, %s: ok %v, output:\n%s\nwant a refusal naming %q and the command %q", c.name, ok, out, c.reason, want)
		}
		if strings.Contains(out, "hooks version") || tm.deployed() != before {
			t.Errorf("HASHFAST, %s: the stale binary ran something:\n%s", c.name, out)
		}
	}
	// The printed command rebuilds under HASHFAST too; the local stage
	// shows the new hook.
	if out, ok := tm.run(fast, "go", "tool", "mage", "-f", "local", "deploy"); !ok || !strings.Contains(out, "hooks version 3") {
		t.Fatalf("go tool mage -f local deploy (ok %v):\n%s", ok, out)
	}
	if out, ok := tm.run(fast, "go", "tool", "mage", "local", "config"); !ok {
		t.Fatalf("after the rebuild, go tool mage local config is refused:\n%s", out)
	}
}

// BenchmarkCheck times the check as a magefile binary of this repository
// runs it: reading its file table, then Check against the checkout (the
// first part runs once per process, the second once per run). It builds
// the binary with go tool mage -compile first.
func BenchmarkCheck(b *testing.B) {
	_, me, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(me), "..", "..", ".."))
	bin := filepath.Join(b.TempDir(), "capstan-mage")
	c := exec.Command("go", "tool", "mage", "-compile", bin)
	c.Dir = root
	if out, err := c.CombinedOutput(); err != nil {
		b.Fatalf("go tool mage -compile: %v\n%s", err, out)
	}
	var bin1 *Binary
	for b.Loop() {
		fi, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		files, err := sourceFiles(bin)
		if err != nil {
			b.Fatal(err)
		}
		bin1 = &Binary{Path: bin, Built: fi.ModTime(), Files: files, GoRoot: goroot()}
		if err := bin1.Check(root, []string{"local", "deploy"}, getenv); err != nil {
			b.Fatal(err)
		}
	}
	dirs := map[string]bool{}
	for _, f := range bin1.Files {
		if within(f, root) {
			dirs[filepath.Dir(f)] = true
		}
	}
	b.ReportMetric(float64(len(bin1.Files)), "files-in-table")
	b.ReportMetric(float64(len(dirs)), "dirs-listed")
}
