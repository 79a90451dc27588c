package capconv

import (
	"errors"
	"flag"
	"go/ast"
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/*/want")

// projects are the Capistrano projects in testdata, each in <name>/cap
// with its expected Go in <name>/want.
var projects = []string{"shop", "legacy", "hostile"}

func convertProject(t *testing.T, name string) *Result {
	t.Helper()
	r, err := Convert(Options{Dir: filepath.Join("testdata", name, "cap"), Module: "example.com/" + name})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func notesText(r *Result) string {
	var b strings.Builder
	for _, n := range r.Notes {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

// TestConvertGolden pins the Go written for each test project, and the
// summary of what was not translated.
func TestConvertGolden(t *testing.T) {
	for _, name := range projects {
		t.Run(name, func(t *testing.T) {
			r := convertProject(t, name)
			files := append([]File{}, r.Files...)
			files = append(files, File{Path: "NOTES", Content: notesText(r)})
			want := filepath.Join("testdata", name, "want")
			if *update {
				os.RemoveAll(want)
			}
			seen := map[string]bool{}
			for _, f := range files {
				p := filepath.Join(want, filepath.FromSlash(f.Path))
				seen[p] = true
				if *update {
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, []byte(f.Content), 0o644)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if string(b) != f.Content {
					t.Errorf("%s differs from %s: go test ./deploylib/internal/capconv -update, and review the diff\n%s", f.Path, p, f.Content)
				}
			}
			filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !seen[p] {
					t.Errorf("%s is no longer written", p)
				}
				return nil
			})
		})
	}
}

// TestHostileStrings: every Ruby string of the hostile project comes out
// as a Go literal holding exactly the Ruby value, and no Go comment is
// broken by what the Ruby lines hold.
func TestHostileStrings(t *testing.T) {
	r := convertProject(t, "hostile")
	var deploy, qa string
	for _, f := range r.Files {
		fset := gotoken.NewFileSet()
		if _, err := goparser.ParseFile(fset, f.Path, f.Content, goparser.ParseComments); err != nil {
			t.Errorf("%s does not parse: %v", f.Path, err)
		}
		switch f.Path {
		case "magefiles/deploy.go":
			deploy = f.Content
		case "stages/qa.go":
			qa = f.Content
		}
	}
	for _, want := range []string{
		`Application: "evil\"app` + "`id`" + `"`,
		`RepoURL:     "git@example.com:acme/it's \"quoted\".git"`,
		`DeployTo:    "/srv/$(rm -rf ~)/evil\"app` + "`id`" + `"`,
		`"motd":          "line one\nline two\t\"tab\" \\ back` + "`slash`" + ` $(whoami) ${HOME} */ // \u2028 end"`,
		`"note":          "single #{not_interpolated} \\n stays"`,
		`"weird_heredoc": "first \"line\" with ` + "`ticks`" + `\nsecond $(line) */\n"`,
		// An argument is one quoted word, as Capstan quotes every argument.
		`h1.Execute(ctx, "echo", "it's \"quoted\" $(touch /tmp/pwned) ` + "`id`" + ` ; rm -rf / #")`,
		// A string with spaces is a shell line, as SSHKit runs it; a
		// value interpolated into it is shell-quoted.
		`h.Sh(ctx, "printf '%s' "+shell.Quote(deploylib.Setting(ctx, "motd", ""))+" > motd.txt")`,
	} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deploy.go lacks %s", want)
		}
	}
	for _, want := range []string{`Branch: "feature/$(evil)"`, `Host: "deploy` + "`id`" + `@qa.example.com"`, `"label": "it's \"q\" $(x)"`} {
		if !strings.Contains(qa, want) {
			t.Errorf("stages/qa.go lacks %s", want)
		}
	}
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBadInput: what cannot be converted is an error naming the file and
// the line.
func TestBadInput(t *testing.T) {
	stage := map[string]string{"config/deploy/staging.rb": "server 'web1', roles: %w{app}\n"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range stage {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		files  map[string]string
		stages []string
		want   string
		is     error
	}{
		{"no deploy.rb", stage, nil, "has no config/deploy.rb", ErrNotCapistrano},
		{"unterminated string", with(map[string]string{"config/deploy.rb": "set :application, \"shop\"\nset :repo_url, \"git@x:y.git\n"}), nil, "config/deploy.rb:2: unterminated string", nil},
		{"block not closed", with(map[string]string{"config/deploy.rb": "set :application, 'shop'\n\nnamespace :app do\n  task :x do\n  end\n"}), nil, "config/deploy.rb:3: block not closed", nil},
		{"bad rake file", with(map[string]string{"config/deploy.rb": "set :application, 'x'\n", "lib/capistrano/tasks/a.rake": "task :a do\n  execute 'x\nend\n"}), nil, "lib/capistrano/tasks/a.rake:2: unterminated string", nil},
		{"unterminated heredoc", with(map[string]string{"config/deploy.rb": "set :a, <<~EOS\n  x\n"}), nil, "config/deploy.rb:1: heredoc <<EOS is not terminated", nil},
		{"end with nothing to close", with(map[string]string{"config/deploy.rb": "set :application, 'x'\nend\n"}), nil, `config/deploy.rb:2: unexpected "end" (more closed than opened)`, nil},
		{"stage file missing", with(map[string]string{"config/deploy.rb": "set :application, 'x'\n"}), []string{"qa"}, "stage qa: config/deploy/qa.rb does not exist", nil},
		{"no stages", map[string]string{"config/deploy.rb": "set :application, 'x'\n"}, nil, "no stage files in config/deploy/", nil},
		{"stage named like a target", with(map[string]string{"config/deploy.rb": "set :application, 'x'\n", "config/deploy/deploy.rb": ""}), nil, `stage name "deploy" is taken by a Capstan target`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, tc.files)
			_, err := Convert(Options{Dir: dir, Module: "example.com/x", Stages: tc.stages})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
		})
	}
}

// TestStagesOption: Stages picks the stage files to convert.
func TestStagesOption(t *testing.T) {
	r, err := Convert(Options{Dir: filepath.Join("testdata", "shop", "cap"), Module: "example.com/shop", Stages: []string{"staging"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range r.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "magefiles/deploy.go stages/staging.go" {
		t.Errorf("files %s", got)
	}
}

// TestHostileNames: names that reach comments of the Go (task and
// namespace names, file names) cannot end a comment and inject code.
func TestHostileNames(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"config/deploy.rb": "set :application, 'x'\n" +
			"namespace \"ns\\nfunc init() { panic(1) }\\n//\" do\n  task \"t\\u2028x\\ny() //\" => [\"d\\nz()\"] do\n    on roles(:app) do\n      execute :true\n    end\n  end\nend\n" +
			"after \"deploy:updated\", \"ns\\nfunc init() { panic(1) }\\n//:t\\u2028x\\ny() //\"\n",
		"config/deploy/staging.rb":                 "server 'web1', roles: %w{app}\n",
		"lib/capistrano/tasks/a\nfunc x() {}.rake": "task :b do\nend\n",
	})
	r, err := Convert(Options{Dir: dir, Module: "example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		fset := gotoken.NewFileSet()
		file, err := goparser.ParseFile(fset, f.Path, f.Content, goparser.ParseComments)
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", f.Path, err, f.Content)
		}
		inits := 0
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if fn.Name.Name == "init" {
				inits++
			}
			if fn.Name.Name == "x" || inits > 1 {
				t.Errorf("%s declares %s: a name broke out of a comment\n%s", f.Path, fn.Name.Name, f.Content)
			}
		}
	}
}

// TestConfigForms: settings and servers written in the other ways
// Capistrano accepts.
func TestConfigForms(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"config/deploy.rb":            "set :application, 'x'\nset :keep_releases, ENV['KEEP'] || 5\nset :linked_dirs, 'log'\n",
		"config/deploy/production.rb": "role :app, 'deploy@a1', 'a2:2222', %w{a3}, user: 'ops'\nrole :db, 'a1'\n",
	})
	r, err := Convert(Options{Dir: dir, Module: "example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	notes := notesText(r)
	for _, want := range []string{
		"config/deploy.rb:2: set :keep_releases not translated: KeepReleases needs a number above 0 written in the file",
		"config/deploy.rb:3: set :linked_dirs not translated: not a list",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	var stage string
	for _, f := range r.Files {
		if f.Path == "stages/production.go" {
			stage = f.Content
		}
	}
	for _, want := range []string{
		`{Host: "ops@a1", Roles: []string{"app", "db"}}`,
		`{Host: "ops@a2:2222", Roles: []string{"app"}}`,
		`{Host: "ops@a3", Roles: []string{"app"}}`,
	} {
		if !strings.Contains(stage, want) {
			t.Errorf("stages/production.go lacks %s:\n%s", want, stage)
		}
	}
}

// TestLocalNames: Ruby locals named like what the generated code uses
// (hosts, err, packages) get names of their own, and the project builds.
func TestLocalNames(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"config/deploy.rb": "set :application, 'x'\ntask :t do\n  on roles(:app) do\n    within release_path do\n" +
			"      h1 = capture(:hostname)\n      err = capture(:id)\n      strings = capture(:ls)\n      ok = capture(:true)\n" +
			"      execute :echo, h1, err, strings, ok\n    end\n  end\nend\n",
		"config/deploy/production.rb": "server 'a1', roles: %w{app}\n",
	})
	r, err := Convert(Options{Dir: dir, Module: "example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	deploy := r.Files[0].Content
	for _, want := range []string{"h1Value, err := h1.Capture(ctx, \"hostname\")", "errValue, err := h1.Capture(ctx, \"id\")", "stringsValue, err :=", "okValue, err :=",
		`h1.Execute(ctx, "echo", h1Value, errValue, stringsValue, okValue)`} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deploy.go lacks %s:\n%s", want, deploy)
		}
	}
	mod := teamModule(t, "x", r.Files)
	runIn(t, mod, goEnv(), "go", "vet", "-tags", "mage", "./...")
}
