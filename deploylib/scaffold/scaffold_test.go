package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestFilesGolden pins the files the scaffold writes, and checks that
// the Go files among them are gofmt-clean.
func TestFilesGolden(t *testing.T) {
	files, err := Files(Options{Dir: t.TempDir(), Application: "shop", RepoURL: "git@github.com:acme/shop.git", Branch: "main"}, "example.com/shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join("testdata", strings.ReplaceAll(strings.TrimPrefix(f.Path, "."), "/", "_")+".golden")
		if *update {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(p, []byte(f.Content), 0o644)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if string(want) != f.Content {
			t.Errorf("%s differs from %s; run go test ./deploylib/scaffold -update and review the diff", f.Path, p)
		}
		if strings.HasSuffix(f.Path, ".go") {
			if b, err := format.Source([]byte(f.Content)); err != nil || string(b) != f.Content {
				t.Errorf("%s is not gofmt-clean: %v", f.Path, err)
			}
		}
	}
}

// TestOptionalFileKept: a team's own .vscode/settings.json is left alone,
// and the scaffold says what it should hold, instead of refusing.
func TestOptionalFileKept(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".vscode"), 0o755)
	mine := []byte(`{"editor.tabSize": 4}` + "\n")
	os.WriteFile(filepath.Join(dir, ".vscode", "settings.json"), mine, 0o644)
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Dir: dir, Out: &out, SkipGoMod: true}); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".vscode", "settings.json")); !bytes.Equal(b, mine) {
		t.Errorf(".vscode/settings.json was changed to %s", b)
	}
	for _, want := range []string{"kept .vscode/settings.json (exists)", `"build.buildFlags": ["-tags=mage"]`, "created stages/local.go", "created magefiles/deploy_test.go"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestMageVersionMatchesGoMod: the scaffold adds the mage that Capstan
// itself uses.
func TestMageVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`github.com/magefile/mage ` + regexp.QuoteMeta(MageVersion) + `\b`).Match(b) {
		t.Errorf("MageVersion %s is not the mage of go.mod", MageVersion)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	o := Options{Dir: dir, Out: new(bytes.Buffer), SkipGoMod: true}

	os.MkdirAll(filepath.Join(dir, "stages"), 0o755)
	os.WriteFile(filepath.Join(dir, "stages", "servers.go"), []byte("package servers\n"), 0o644)
	if err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "stages/servers.go is package servers") {
		t.Errorf("other package in stages/: %v", err)
	}
	os.Remove(filepath.Join(dir, "stages", "servers.go"))

	mine := []byte("package stages // the team's own\n")
	os.WriteFile(filepath.Join(dir, "stages", "staging.go"), mine, 0o644)
	err := Run(context.Background(), o)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "stages/staging.go") {
		t.Errorf("existing file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "staging.go")); !bytes.Equal(b, mine) {
		t.Errorf("stages/staging.go was overwritten")
	}
	for _, p := range []string{"magefiles/deploy.go", "stages/production.go"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was written although the scaffold refused", p)
		}
	}

	if err := Run(context.Background(), Options{Dir: t.TempDir(), Out: new(bytes.Buffer)}); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("no go.mod: %v", err)
	}
}

// TestScaffoldEndToEnd scaffolds a fresh module the way a team does, with
// go run .../capstan-init, then runs mage there: mage -l, a dry run, a
// deploy of a local stage, releases, run, doctor and ssh. The
// module requires this checkout through a replace directive, so it builds
// offline.
func TestScaffoldEndToEnd(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds and runs mage (-short)")
	}
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := append(os.Environ(),
		// HASHFAST: mage compiles the magefile once; it does not change.
		"GOFLAGS=-mod=mod", "MAGEFILE_CACHE="+t.TempDir(), "MAGEFILE_HASHFAST=1", "CAPSTAN_COLOR=never", "USER=alice",
		"HOSTS=", "ROLES=", "DRY_RUN=", "VERBOSE=", "CAPSTAN_LOG_FILE=",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	run := func(wantOK bool, extraEnv []string, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(env, extraEnv...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("%5.1fs %s %s", time.Since(start).Seconds(), name, strings.Join(args, " "))
		if (err == nil) != wantOK {
			t.Fatalf("%s %s: %v (want success %v)\n%s", name, strings.Join(args, " "), err, wantOK, out)
		}
		return string(out)
	}
	mustContain := func(what, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", what, w, out)
			}
		}
	}

	run(true, nil, "git", "init", "-q", "-b", "main")
	run(true, nil, "go", "mod", "init", "example.com/shop")
	run(true, nil, "go", "mod", "edit", "-require="+Module+"@v0.0.0-00010101000000-000000000000", "-replace="+Module+"="+root)

	out := run(true, nil, "go", "run", Module+"/deploylib/cmd/capstan-init", "-repo", "git@example.com:acme/shop.git")
	mustContain("capstan-init", out, "created magefiles/deploy.go", "created magefiles/deploy_test.go", "created stages/production.go",
		"created stages/staging.go", "created stages/local.go", "created .vscode/settings.json",
		"go get -tool github.com/magefile/mage@"+MageVersion, "Add to .gitignore: /log/", "/.deploy/")
	var settings struct {
		Gopls map[string][]string `json:"gopls"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, ".vscode", "settings.json")); err != nil || json.Unmarshal(b, &settings) != nil {
		t.Errorf(".vscode/settings.json: %v\n%s", err, b)
	} else if got := settings.Gopls["build.buildFlags"]; !slices.Equal(got, []string{"-tags=mage"}) {
		t.Errorf(".vscode/settings.json: gopls build.buildFlags %q, want [-tags=mage]", got)
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	mustContain("go.mod", string(gomod), "tool github.com/magefile/mage", "github.com/magefile/mage "+MageVersion)

	// A second run refuses and changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, "magefiles", "deploy.go"))
	err = Run(context.Background(), Options{Dir: dir, Out: new(bytes.Buffer)})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "magefiles/deploy.go, magefiles/deploy_test.go, stages/production.go, stages/staging.go, stages/local.go") {
		t.Errorf("second scaffold: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "magefiles", "deploy.go")); !bytes.Equal(before, after) {
		t.Errorf("magefiles/deploy.go changed")
	}

	// The example hook test passes as written (the magefiles' tests need
	// the build tag mage).
	out = run(true, nil, "go", "test", "-count=1", "-tags", "mage", "./magefiles/")
	mustContain("go test -tags mage ./magefiles/", out, "ok  \texample.com/shop/magefiles")

	// A team task, as the README's "Your own tasks" writes it.
	os.WriteFile(filepath.Join(dir, "magefiles", "app.go"), []byte(`//go:build mage

package main

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/magefile/mage/mg"
)

// AppRestart restarts the app on every app server.
var AppRestart = deploylib.NewTask("app:restart", "restarts the app", restartApp)

// App is the app: namespace.
type App mg.Namespace

// Restart restarts the app: mage production app:restart.
func (App) Restart(ctx context.Context) error { return deploylib.Start(ctx, AppRestart) }

func init() {
	deploylib.Before(AppRestart, drainLoadBalancer)
}

func drainLoadBalancer(ctx context.Context) error {
	deploylib.Logf(ctx, "draining")
	return nil
}

func restartApp(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		return h.Execute(ctx, "echo", "restarted")
	})
}
`), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/.deploy/\n/log/\n"), 0o644)
	run(true, nil, "git", "add", "-A")
	run(true, nil, "git", "commit", "-q", "-m", "scaffold")

	out = run(true, nil, "go", "tool", "mage", "-l")
	mustContain("mage -l", out, "deploy ", "deploy:check ", "deploy:rollback ", "doctor ", "dryrun ", "flow ", "local ", "production ",
		"releases ", "rollback ", "run ", "ssh ", "staging ", "app:restart ", "restarts the app: mage production app:restart", "config ", "logs ")
	out = run(true, nil, "go", "tool", "mage", "local", "app:restart", "task", "app:restart")
	mustContain("team task", out, "00:00 main.drainLoadBalancer\n      draining\n00:00 app:restart\n", "01 localhost | restarted", "app:restart finished: 1 host")
	if n := strings.Count(out, "app:restart finished"); n != 2 {
		t.Errorf("app:restart and task app:restart: %d runs finished, want 2:\n%s", n, out)
	}
	out = run(true, nil, "go", "tool", "mage", "flow", "app:restart")
	mustContain("flow app:restart", out, "app:restart\n  [before]\n    main.drainLoadBalancer\n")
	out = run(true, nil, "go", "tool", "mage", "local", "config")
	mustContain("config", out, "configuration of stage local", "deploy_to        "+filepath.Join(dir, ".deploy", "local"), "localhost  app, web, db  primary, local")

	// Dry runs: mage runs the targets of one command line in order, and
	// dryrun makes every later one a dry run.
	cmd := exec.Command("go", "tool", "mage", "local", "dryrun", "doctor", "deploy:check", "run", "touch ran", "deploy")
	cmd.Dir, cmd.Env = dir, env
	b, err := cmd.CombinedOutput()
	out = string(b)
	mustContain("dry runs", out, "dry run: no host was asked anything", "dry run of deploy:check finished, nothing was run", "      01 cd "+filepath.Join(dir, ".deploy", "local", "current")+" 2>/dev/null ; ( touch ran )\n    - 01 localhost not run\n")
	switch {
	case err != nil && strings.Contains(out, `unexpected release listing ""`):
		t.Logf("dry run of deploy stops in deploy:cleanup, which needs a DryRun guard (deploy.go)")
	case err != nil:
		t.Errorf("dry run of deploy: %v\n%s", err, out)
	default:
		mustContain("dry run of deploy", out, "DRY RUN", "dry run of deploy finished, nothing was run")
	}
	for _, p := range []string{"ran", ".deploy/local/releases"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("the dry run created %s", p)
		}
	}

	fakeShell := filepath.Join(t.TempDir(), "shell")
	os.WriteFile(fakeShell, []byte("#!/bin/sh\necho \"fake shell in $(pwd)\"\n"), 0o755)
	out = run(true, []string{"SHELL=" + fakeShell}, "go", "tool", "mage", "local",
		"deploy", "releases", "run", "head -1 go.mod", "doctor", "ssh", "-host=localhost")
	mustContain("deploy", out, "deploy finished: release ")
	checkLocalDeploy(t, dir, run(true, nil, "git", "rev-parse", "HEAD"))
	mustContain("releases", out, "localhost  "+filepath.Join(dir, ".deploy", "local"), "main    alice  current")
	mustContain("run", out, "      01 localhost | module example.com/shop")
	mustContain("doctor", out, "doctor of stage local", "localhost  ok     ok", "ready")
	mustContain("ssh", out, "fake shell in "+filepath.Join(dir, ".deploy", "local", "current"))
	out = run(false, nil, "go", "tool", "mage", "local", "run", "exit 7")
	mustContain("failing run", out, "failed on 1 of 1 hosts: localhost (exit status 7)")
	if !strings.Contains(out, "exit status 7") {
		t.Errorf("mage did not pass the exit status on")
	}

	fi, err := os.Stat(filepath.Join(dir, "log", "deploy.log"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log/deploy.log: %v %v", fi, err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log", "deploy.log"))
	if n := strings.Count(string(log), " INFO START "); n != 13 {
		t.Errorf("%d START lines in log/deploy.log, want one per run", n)
	}

	// A team on macOS or Windows compiles the same deploy binary.
	for _, goos := range []string{"darwin", "windows"} {
		cmd := exec.Command("go", "tool", "mage", "-goos", goos, "-goarch", "amd64", "-compile", filepath.Join(t.TempDir(), "deploy-"+goos))
		cmd.Dir, cmd.Env = dir, append(env, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("compiling the deploy binary for %s: %v\n%s", goos, err, out)
		}
	}
}

// checkLocalDeploy checks what the local stage's first deploy left in
// dir/.deploy/local: current links to the one release, by absolute path,
// and the release holds the files of HEAD, its REVISION and REVISION_TIME,
// and revisions.log says so in Capistrano's words.
func checkLocalDeploy(t *testing.T, dir, head string) {
	t.Helper()
	head = strings.TrimSpace(head)
	deployTo := filepath.Join(dir, ".deploy", "local")
	releases, err := os.ReadDir(filepath.Join(deployTo, "releases"))
	if err != nil || len(releases) != 1 {
		t.Fatalf("releases/: %v, %v; want one release", releases, err)
	}
	release := filepath.Join(deployTo, "releases", releases[0].Name())
	if target, err := os.Readlink(filepath.Join(deployTo, "current")); err != nil || target != release {
		t.Errorf("current -> %q (%v), want -> %s", target, err, release)
	}
	for _, c := range []struct{ file, want string }{
		{"REVISION", head + "\n"},
		{"go.mod", "module example.com/shop\n"},
		{"stages/local.go", "func Local() error"},
	} {
		b, err := os.ReadFile(filepath.Join(deployTo, "current", filepath.FromSlash(c.file)))
		if err != nil || !strings.Contains(string(b), c.want) {
			t.Errorf("current/%s: %v, %q; want it to hold %q", c.file, err, b, c.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(release, "REVISION_TIME")); err != nil || !regexp.MustCompile(`^\d+\n$`).Match(b) {
		t.Errorf("REVISION_TIME: %q, %v", b, err)
	}
	log, err := os.ReadFile(filepath.Join(deployTo, "revisions.log"))
	want := "Branch main (at " + head + ") deployed as release " + releases[0].Name() + " by alice\n"
	if err != nil || string(log) != want {
		t.Errorf("revisions.log: %q, %v; want %q", log, err, want)
	}
}
