// Package scaffold sets a Go repository up for Capstan, as cap install
// does for Capistrano: it writes magefiles/deploy.go (the configuration
// and hooks), magefiles/deploy_test.go (a test of the example hooks),
// stages/production.go and stages/staging.go (the servers) and
// stages/local.go (the embedded local stage), each commented, and
// .vscode/settings.json (the mage build tag for gopls), and adds Capstan
// and mage (as a go tool) to go.mod. It never overwrites a file.
//
// A team runs it from its module's top level:
//
//	go run github.com/capstan-deploy/capstan/deploylib/cmd/capstan-init@latest
package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"text/template"

	"github.com/capstan-deploy/capstan/deploylib/internal/capconv"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Module is Capstan's module path.
const Module = "github.com/capstan-deploy/capstan"

// MageVersion is the version of mage added as a go tool; the one Capstan
// is built and tested with.
const MageVersion = "v1.17.2"

// Options say what to scaffold where. Only Dir is needed; the rest is
// guessed from the repository.
type Options struct {
	// Dir is the module's top level (where go.mod is). Default ".".
	Dir string
	// Application names the application. Default: the last element of the
	// module path.
	Application string
	// RepoURL is the repository the servers clone. Default: the git
	// remote "origin", else a placeholder to edit.
	RepoURL string
	// Branch is the branch to deploy. Default: the checked-out branch,
	// else "main".
	Branch string
	// DeployTo is the directory on the servers. Default /srv/<application>.
	DeployTo string
	// Version is the version of Capstan to require when go.mod does not
	// already: default this program's own version, else "latest".
	Version string
	// SkipGoMod leaves go.mod alone and only says what to run.
	SkipGoMod bool
	// Stages names the stage files to write, one stages/<name>.go each.
	// Default: production and staging (a fresh scaffold), or every
	// config/deploy/<name>.rb (a conversion).
	Stages []string
	// FromCapistrano, when set, is a Capistrano project whose Capfile,
	// config/deploy.rb, config/deploy/*.rb and lib/capistrano/tasks are
	// converted into magefiles/deploy.go and stages/*.go instead of the
	// example files. Application, RepoURL, Branch and DeployTo come from
	// the project then.
	FromCapistrano string
	// Force overwrites magefiles/deploy.go and the stage files when they
	// exist.
	Force bool
	// Out receives what is done, line by line. Default os.Stdout.
	Out io.Writer
	// GoCmd is the go command. Default "go".
	GoCmd string
}

// File is one file the scaffold writes.
type File struct {
	// Path is relative to the module's top level, with slashes.
	Path    string
	Content string
	// Optional files that exist already are left alone, with a note of
	// what they should hold; any other existing file makes Run refuse.
	Optional bool
}

// ErrExists is returned, wrapped, when a file to write already exists.
var ErrExists = errors.New("refusing to overwrite existing files")

// modInfo is the part of go mod edit -json the scaffold reads.
type modInfo struct {
	Module  struct{ Path string }
	Require []struct{ Path, Version string }
	Tool    []struct{ Path string }
}

// Run scaffolds the module in o.Dir: it checks that none of the files
// exist, writes them, and adds Capstan and the mage tool to go.mod.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	mod, err := readGoMod(ctx, o)
	if err != nil {
		return err
	}
	var files []File
	var notes []capconv.Note
	stages := stageNames(o)
	if o.FromCapistrano != "" {
		res, err := capconv.Convert(capconv.Options{Dir: o.FromCapistrano, Module: mod.Module.Path, Stages: o.Stages})
		if err != nil {
			return err
		}
		for _, f := range res.Files {
			files = append(files, File{Path: f.Path, Content: f.Content})
		}
		files = append(files, File{Path: ".vscode/settings.json", Content: vscodeSettings, Optional: true})
		notes = res.Notes
		stages = res.Stages
	} else {
		files, err = Files(o, mod.Module.Path)
		if err != nil {
			return err
		}
	}
	if err := checkFree(o.Dir, files, o.Force); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(o.Dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", f.Path, err)
		}
		// O_EXCL: a file that appeared since the check is not overwritten,
		// unless Force says so.
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if o.Force && !f.Optional {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		fh, err := os.OpenFile(p, flags, 0o644)
		if f.Optional && errors.Is(err, os.ErrExist) {
			fmt.Fprintf(o.Out, "kept %s (exists); for editors, it should hold:\n%s", f.Path, f.Content)
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrExists, err)
		}
		_, werr := fh.WriteString(f.Content)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing %s: %w", f.Path, werr)
		}
		fmt.Fprintf(o.Out, "created %s\n", f.Path)
	}
	if o.FromCapistrano != "" {
		printNotes(o.Out, o.FromCapistrano, notes)
	}
	steps := goModSteps(mod, o.Version)
	for _, args := range steps {
		if o.SkipGoMod {
			fmt.Fprintf(o.Out, "run: %s %s\n", o.GoCmd, strings.Join(args, " "))
			continue
		}
		fmt.Fprintf(o.Out, "%s %s\n", o.GoCmd, strings.Join(args, " "))
		if _, err := goRun(ctx, o, args...); err != nil {
			return err
		}
	}
	fmt.Fprint(o.Out, nextSteps(o, stages))
	return nil
}

// printNotes prints what the conversion did not translate, file:line
// and why, as the summary of a conversion.
func printNotes(w io.Writer, dir string, notes []capconv.Note) {
	if len(notes) == 0 {
		fmt.Fprintln(w, "\nEverything was translated.")
		return
	}
	fmt.Fprintf(w, "\nNot translated or translated with a difference (%d; each is a TODO(capstan-init) comment in the Go):\n", len(notes))
	for _, n := range notes {
		fmt.Fprintf(w, "  %s:%d: %s\n", filepath.Join(dir, filepath.FromSlash(n.File)), n.Line, n.Why)
	}
}

// stageNames are the stages a fresh scaffold writes.
func stageNames(o Options) []string {
	if len(o.Stages) > 0 {
		return o.Stages
	}
	if o.FromCapistrano != "" {
		return nil
	}
	return []string{"production", "staging"}
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.GoCmd == "" {
		o.GoCmd = "go"
	}
	if o.Version == "" {
		o.Version = ownVersion()
	}
	return o
}

// ownVersion is this program's Capstan version when it was built from a
// released module (go run ...@v1.2.3), else "latest".
func ownVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == Module && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == Module && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "latest"
}

func readGoMod(ctx context.Context, o Options) (modInfo, error) {
	var mod modInfo
	if _, err := os.Stat(filepath.Join(o.Dir, "go.mod")); err != nil {
		return mod, fmt.Errorf("no go.mod in %s: run capstan-init at the top level of your Go module (go mod init first)", o.Dir)
	}
	out, err := goRun(ctx, o, "mod", "edit", "-json")
	if err != nil {
		return mod, err
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return mod, fmt.Errorf("reading go.mod: %w", err)
	}
	if mod.Module.Path == "" {
		return mod, errors.New("go.mod has no module path")
	}
	return mod, nil
}

// goModSteps returns the go commands that add what is missing from
// go.mod: Capstan, mage as a go tool, and the checksums of the packages
// the new files import.
func goModSteps(mod modInfo, version string) [][]string {
	var steps [][]string
	required := false
	for _, r := range mod.Require {
		required = required || r.Path == Module
	}
	if !required && mod.Module.Path != Module {
		steps = append(steps, []string{"get", Module + "@" + version})
	}
	tool := false
	for _, t := range mod.Tool {
		tool = tool || t.Path == "github.com/magefile/mage"
	}
	if !tool {
		steps = append(steps, []string{"get", "-tool", "github.com/magefile/mage@" + MageVersion})
	}
	return append(steps, []string{"list", "-mod=mod", "-tags", "mage", "-deps", "./magefiles", "./stages"})
}

func goRun(ctx context.Context, o Options, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, o.GoCmd, args...)
	cmd.Dir = o.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", o.GoCmd, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// checkFree fails, listing them, when any of files exists, and when the
// stages directory holds another package.
func checkFree(dir string, files []File, force bool) error {
	var exist []string
	for _, f := range files {
		if f.Optional || force {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path))); err == nil {
			exist = append(exist, f.Path)
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("%w: %s (move them away, or run again with -force to overwrite them)", ErrExists, strings.Join(exist, ", "))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "stages"))
	pkg := regexp.MustCompile(`(?m)^package\s+(\w+)`)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "stages", e.Name()))
		if err != nil {
			continue
		}
		if m := pkg.FindSubmatch(b); m != nil && string(m[1]) != "stages" {
			return fmt.Errorf("stages/%s is package %s; the scaffold's stages are package stages: rename one of them", e.Name(), m[1])
		}
	}
	return nil
}

// Files renders the files for the module modPath, filling what o leaves
// empty from the repository in o.Dir.
func Files(o Options, modPath string) ([]File, error) {
	o = o.withDefaults()
	if o.Application == "" {
		o.Application = path.Base(modPath)
	}
	if o.RepoURL == "" {
		o.RepoURL = gitOut(o.Dir, "remote", "get-url", "origin")
	}
	repoComment := ""
	if o.RepoURL == "" {
		o.RepoURL = "git@github.com:example/" + o.Application + ".git"
		repoComment = " // EDIT: no git remote \"origin\" was found"
	}
	if o.Branch == "" {
		o.Branch = gitOut(o.Dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.DeployTo == "" {
		o.DeployTo = "/srv/" + o.Application
	}
	stages := stageNames(o)
	for _, name := range stages {
		if err := capconv.CheckStageName(name); err != nil {
			return nil, err
		}
	}
	var stageFiles []string
	for _, name := range stages {
		stageFiles = append(stageFiles, "stages/"+capconv.StageFile(name)+".go")
	}
	data := map[string]string{
		"First": stages[0], "StageList": strings.Join(stages, ", "),
		"Module": modPath, "App": o.Application, "RepoURL": o.RepoURL, "RepoComment": repoComment,
		"Branch": o.Branch, "DeployTo": o.DeployTo,
		// What the example hooks send, as deploy_test.go expects it.
		"MigrateCommand": "cd " + shell.Quote(path.Join(o.DeployTo, "current")) + " && ./bin/migrate up",
		"RestartCommand": "sudo systemctl restart " + shell.Quote(o.Application),
	}
	var out []File
	type fileTemplate struct {
		path, text string
		optional   bool
		data       map[string]string
	}
	templates := []fileTemplate{
		{"magefiles/deploy.go", deployTemplate, false, nil},
		{"magefiles/deploy_test.go", deployTestTemplate, false, nil},
		{"stages/local.go", localTemplate, false, nil},
		{".vscode/settings.json", vscodeSettings, true, nil},
	}
	// The first stage is the commented example of several servers; the
	// others have one server each.
	for i, name := range stages {
		text := stagingTemplate
		if i == 0 {
			text = productionTemplate
		}
		sd := map[string]string{"Name": name, "Func": capconv.StageFunc(name)}
		for k, v := range data {
			sd[k] = v
		}
		templates = slices.Insert(templates, 2+i, fileTemplate{stageFiles[i], text, false, sd})
	}
	for _, t := range templates {
		if t.data == nil {
			t.data = data
		}
		tpl, err := template.New(t.path).Funcs(template.FuncMap{"pad": pad}).Parse(t.text)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		if err := tpl.Execute(&b, t.data); err != nil {
			return nil, err
		}
		out = append(out, File{Path: t.path, Content: b.String(), Optional: t.optional})
	}
	return out, nil
}

func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// pad pads s with spaces to width, or adds one space when it is longer:
// the columns of the commented commands.
func pad(width int, s string) string {
	if len(s) >= width {
		return s + " "
	}
	return s + strings.Repeat(" ", width-len(s))
}

func nextSteps(o Options, stages []string) string {
	var b strings.Builder
	if o.FromCapistrano != "" {
		s := "<stage>"
		if len(stages) > 0 {
			s = stages[0]
		}
		fmt.Fprintf(&b, "\nNext:\n"+
			"  1. Read every TODO(capstan-init) comment in magefiles/deploy.go and stages/.\n"+
			"  2. %sshows where each hook runs (cap %s deploy --dry-run --trace)\n"+
			"  3. %sprints every command, runs nothing\n"+
			"  4. %schecks the servers, changes nothing\n",
			pad(41, "go tool mage flow deploy"), s, pad(41, "go tool mage "+s+" dryrun deploy"), pad(41, "go tool mage "+s+" doctor"))
	} else {
		var files []string
		for _, n := range stages {
			files = append(files, "stages/"+capconv.StageFile(n)+".go")
		}
		last := stages[len(stages)-1]
		fmt.Fprintf(&b, "\nNext:\n"+
			"  1. git commit, then: go tool mage local deploy\n"+
			"                                              deploys HEAD into .deploy/local, no server needed\n"+
			"  2. Put your servers in %s.\n"+
			"  3. go tool mage -l                          lists every task\n"+
			"  4. %schecks the servers, changes nothing\n"+
			"  5. %sprints every command, runs nothing\n"+
			"  6. go tool mage %s deploy\n"+
			"  7. go test -tags mage ./magefiles/          tests your hooks (magefiles/deploy_test.go)\n",
			joinAnd(files), pad(41, "go tool mage "+last+" doctor"), pad(41, "go tool mage "+last+" dryrun deploy"), last)
	}
	b.WriteString(`
Editors: magefiles build only with the tag mage. .vscode/settings.json tells
gopls; for other editors set GOFLAGS=-tags=mage in gopls' environment.
`)
	ig, _ := os.ReadFile(filepath.Join(o.Dir, ".gitignore"))
	var ignore []string
	for _, p := range []struct{ entry, re, why string }{
		{"/log/", `(?m)^/?log/?$`, "each run appends to log/deploy.log"},
		{"/.deploy/", `(?m)^/?\.deploy/?$`, "the local stage deploys into .deploy/local"},
	} {
		if p.entry == "/.deploy/" && o.FromCapistrano != "" {
			continue // a conversion writes no local stage
		}
		if !regexp.MustCompile(p.re).Match(ig) {
			ignore = append(ignore, fmt.Sprintf("%s (%s)", p.entry, p.why))
		}
	}
	if len(ignore) > 0 {
		fmt.Fprintf(&b, "\nAdd to .gitignore: %s.\n", strings.Join(ignore, ", "))
	}
	return b.String()
}

const deployTemplate = `//go:build mage

// Deploys {{.App}} with Capstan (Capistrano for Go teams): go tool mage <stage> <task>.
package main

// go tool mage -l                          every task
// go tool mage local deploy                deploy HEAD into .deploy/local, no server (stages/local.go)
// {{pad 41 (print "go tool mage " .First " deploy")}}deploy (stages/{{.First}}.go)
// {{pad 41 (print "go tool mage " .First " dryrun deploy")}}print every command, run nothing
// {{pad 41 (print "go tool mage " .First " doctor")}}check the servers, change nothing
// {{pad 41 (print "go tool mage " .First " releases")}}the releases on each server
// {{pad 41 (print "go tool mage " .First " rollback")}}back to the previous release
// go tool mage flow deploy                 the deploy flow with every hook
//
// Fast start: export MAGEFILE_HASHFAST=1 (shell profile, CI) and mage reuses
// its compiled binary instead of relinking it on every run; that binary
// refuses to run, printing the command that rebuilds it, once stages/, a
// hook's package or go.mod changed after it was built.
//
// Editors and go test see this file only with the build tag mage:
// go test -tags mage ./magefiles/ runs deploy_test.go; .vscode/settings.json
// sets the tag for gopls (elsewhere: GOFLAGS=-tags=mage).

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets" // deploy, rollback, doctor, releases, run, ssh, dryrun, flow
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets/deployns" // deploy:check, deploy:rollback, ...
	//mage:import
	_ "{{.Module}}/stages" // {{.StageList}}, local
)

// Everything below is unexported: mage makes a target of every exported
// function of the magefile.

func init() {
	deploylib.Configure(deploylib.Config{
		Application: "{{.App}}",
		// The repository every server clones (git strategy). The servers
		// need read access: a deploy key, or ForwardAgent in the stage.
		RepoURL: "{{.RepoURL}}",{{.RepoComment}}
		Branch:  "{{.Branch}}",
		// Holds releases/, shared/, current and repo/ on every server.
		DeployTo:     "{{.DeployTo}}",
		KeepReleases: 5,
		// Files and directories shared by every release: symlinks into
		// <DeployTo>/shared/. Linked files must exist there before the
		// first deploy (mage <stage> doctor says which are missing).
		// LinkedFiles: []string{"config/production.env"},
		LinkedDirs: []string{"log"},
	})

	// Hooks are plain functions hung on any standard task; mage flow
	// deploy shows where they run.
	// deploylib.After(deploylib.Updated, migrate)
	// deploylib.After(deploylib.Published, restart)
}

// migrate runs the database migrations of the new release, once, on the
// primary db server, before it goes live.
func migrate(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Primary("db"), func(ctx context.Context, h *deploylib.Host) error {
		return h.Within(h.ReleasePath()).Execute(ctx, "./bin/migrate", "up")
	})
}

// restart restarts the application on the app servers once the new
// release is live, one server at a time.
func restart(ctx context.Context) error {
	return deploylib.On(ctx, deploylib.Roles("app"), func(ctx context.Context, h *deploylib.Host) error {
		return h.Execute(ctx, "sudo", "systemctl", "restart", "{{.App}}")
	}, deploylib.InSequence(0))
}
`

const productionTemplate = `// Package stages holds the deploy stages, one file each. The magefile
// imports it with //mage:import, so every exported function here is a
// mage target selecting its stage: go tool mage {{.Name}} deploy.
package stages

import "github.com/capstan-deploy/capstan/deploylib"

// {{.Func}} selects the {{.Name}} servers.
func {{.Func}}() {
	deploylib.UseStage(deploylib.Stage{
		Name: "{{.Name}}",
		// Servers: Host is "user@host" or "user@host:port". Roles are
		// yours to name; hooks select servers by role, and Primary marks
		// the one deploylib.Primary(role) picks.
		Servers: []deploylib.Server{
			{Host: "deploy@web1.example.com", Roles: []string{"app", "web", "db"}, Primary: true},
			{Host: "deploy@web2.example.com", Roles: []string{"app", "web"}},
		},
		// Host keys are checked against ~/.ssh/known_hosts; record them
		// first (ssh-keyscan), or accept new ones explicitly. Jump hosts,
		// identity files and agent forwarding go here too:
		// SSH: deploylib.SSHOptions{ProxyJump: "deploy@bastion.example.com"},
	})
}
`

const stagingTemplate = `package stages

import "github.com/capstan-deploy/capstan/deploylib"

// {{.Func}} selects the {{.Name}} server.
func {{.Func}}() {
	deploylib.UseStage(deploylib.Stage{
		Name: "{{.Name}}",
		// A stage may deploy another branch or to another directory:
		// Branch: "develop",
		// DeployTo: "/srv/{{.App}}-{{.Name}}",
		Servers: []deploylib.Server{
			{Host: "deploy@{{.Name}}.example.com", Roles: []string{"app", "web", "db"}, Primary: true},
		},
	})
}
`

const deployTestTemplate = `//go:build mage

package main

// The hooks of deploy.go are plain functions: test them like any Go code.
// The Recorder backend records every command and runs nothing, so no
// server is needed:
//
//	go test -tags mage ./magefiles/

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// testStage is the fleet of the hook tests; none of it is contacted.
var testStage = deploylib.Stage{
	Name: "test",
	Servers: []deploylib.Server{
		{Host: "deploy@web1", Roles: []string{"app", "web"}},
		{Host: "deploy@web2", Roles: []string{"app", "web"}},
		{Host: "deploy@db1", Roles: []string{"db"}, Primary: true},
	},
}

// TestHooks runs each hook on testStage and checks the commands it sent,
// host by host, in order.
func TestHooks(t *testing.T) {
	tests := []struct {
		name string
		hook func(context.Context) error
		want []backend.Record
	}{
		{"migrate", migrate, []backend.Record{
			// Outside a deploy the release is current (Capistrano's rule).
			{Host: "deploy@db1", Command: {{printf "%q" .MigrateCommand}}},
		}},
		{"restart", restart, []backend.Record{
			{Host: "deploy@web1", Command: {{printf "%q" .RestartCommand}}},
			{Host: "deploy@web2", Command: {{printf "%q" .RestartCommand}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HOSTS", "ROLES", "DRY_RUN"} {
				t.Setenv(k, "") // the run reads these filters
			}
			rec := backend.NewRecorder("")
			dial := func(ctx context.Context, s deploylib.Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }
			err := deploylib.Start(context.Background(), deploylib.NewTask("test:"+tc.name, "runs one hook", tc.hook),
				deploylib.WithStage(testStage), deploylib.WithDialer(dial), deploylib.WithOutput(io.Discard), deploylib.WithLogFile(""))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := rec.Log(); !slices.Equal(got, tc.want) {
				t.Errorf("%s ran\n%q\nwant\n%q", tc.name, got, tc.want)
			}
		})
	}
}
`

const localTemplate = `package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Local selects the embedded local stage: this repository's HEAD deployed
// into .deploy/local on this machine, through /bin/sh, no SSH and no
// server: go tool mage local deploy. It is the quickest way to see what a
// deploy does (look at .deploy/local afterwards). On Windows it says it
// needs /bin/sh; deploy to a server over SSH there.
func Local() error {
	s, err := deploylib.LocalStage(".")
	if err != nil {
		return err
	}
	deploylib.UseStage(s)
	return nil
}
`

// vscodeSettings makes gopls and VS Code's Go commands build the
// magefiles, which carry the build tag mage.
const vscodeSettings = `{
	"gopls": {
		"build.buildFlags": ["-tags=mage"]
	},
	"go.buildTags": "mage"
}
`

func joinAnd(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}
