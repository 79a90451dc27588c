package engine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

func TestValidateRef(t *testing.T) {
	for _, tt := range []struct {
		ref string
		ok  bool
	}{
		{"main", true},
		{"release/2026.11", true},
		{"x;touch${IFS}pwned", true}, // git allows it; it is only ever quoted
		{"$(id>pwn)", true},
		{"a`id`b", true},
		{"it's", true},
		{"a|b&c>d<e", true},
		{"0123456789abcdef0123456789abcdef01234567", true},
		{"", false},
		{"-h", false},
		{"--output=/tmp/pwned", false},
		{"--upload-pack=touch /tmp/pwned", false},
		{"--end-of-options", false},
		{"$(touch /tmp/pwned)", false}, // a space: not a ref
		{"a b", false},
		{"x\ny", false},
		{"x\x1b[2J", false},
		{"a..b", false},
		{"a@{1}", false},
		{"refs/heads/x.lock", false},
		{"a~1", false},
		{"a^{commit}", false},
		{"a:b", false},
		{"a*", false},
		{"a[1]", false},
		{"a\\b", false},
		{"trailing/", false},
		{"trailing.", false},
	} {
		err := validateRef(tt.ref)
		if (err == nil) != tt.ok {
			t.Errorf("validateRef(%q) = %v, want ok=%v", tt.ref, err, tt.ok)
		}
	}
}

func TestValidateRepoURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"git@github.com:acme/shop.git", true},
		{"ssh://git@github.com:22/acme/shop.git", true},
		{"https://github.com/acme/shop.git", true},
		{"/srv/git/shop.git", true},
		{"/srv/git/$(touch pwned)", true}, // a path like any other: quoted
		{"--upload-pack=touch /tmp/pwned", false},
		{"-u", false},
		{"ext::sh -c touch% /tmp/pwned", false},
		{"fd::17", false},
		{"transport::anything", false},
		{"https://github.com/acme/shop.git\n--upload-pack=x", false},
	} {
		err := validateRepoURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("validateRepoURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestValidateRelPath(t *testing.T) {
	for _, tt := range []struct {
		p  string
		ok bool
	}{
		{"config/secrets.yml", true},
		{"config/a b;c $(d) `e`.yml", true},
		{"log", true},
		{"", false},
		{"  ", false},
		{"/etc/passwd", false},
		{"../etc/passwd", false},
		{"config/../../etc", false},
		{".", false},
		{"./", false},
		{"-rf", false},
		{"a\nb", false},
	} {
		err := validateRelPath(tt.p)
		if (err == nil) != tt.ok {
			t.Errorf("validateRelPath(%q) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	base := Config{Application: "app", RepoURL: "git@example.com:a/b.git", DeployTo: "/srv/app", KeepReleases: 5}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"spaces and quotes", func(c *Config) { c.DeployTo = `/srv/my app's "dir" $(x)` }, ""},
		{"dot dot", func(c *Config) { c.DeployTo = "/srv/h1/../h1" }, "has a .. element"},
		{"newline", func(c *Config) { c.DeployTo = "/srv/a\nb" }, "newline"},
		{"carriage return", func(c *Config) { c.DeployTo = "/srv/a\rb" }, "newline"},
		{"password in URL", func(c *Config) { c.RepoURL = "https://deploy:s3cret@git.example.com/a/b.git" }, "has a password"},
		{"user only in URL", func(c *Config) { c.RepoURL = "https://deploy@git.example.com/a/b.git" }, ""},
		{"bad env key", func(c *Config) { c.Env = map[string]string{"A;id": "x"} }, "not a valid variable name"},
		{"hostile env value", func(c *Config) { c.Env = map[string]string{"A": "$(id) `id` ;"} }, ""},
		{"option branch", func(c *Config) { c.Branch = "--output=x" }, "would be read as an option"},
		{"sibling linked dirs", func(c *Config) { c.LinkedDirs = []string{"public", "public-assets", "tmp/pids", "tmp/cache"} }, ""},
		{"nested linked dirs", func(c *Config) { c.LinkedDirs = []string{"public", "public/uploads"} }, `LinkedDirs "public/uploads" is inside the linked dir "public"`},
		{"nested linked dirs, inner first", func(c *Config) { c.LinkedDirs = []string{"tmp/pids", "tmp"} }, `LinkedDirs "tmp/pids" is inside the linked dir "tmp"`},
		{"linked file in a linked dir", func(c *Config) { c.LinkedFiles, c.LinkedDirs = []string{"config/secrets.yml"}, []string{"config"} }, `LinkedFiles "config/secrets.yml" is inside the linked dir "config"`},
		{"linked dir inside a linked file", func(c *Config) { c.LinkedFiles, c.LinkedDirs = []string{"data"}, []string{"data/x"} }, "a linked file cannot hold other paths"},
		{"same path twice", func(c *Config) { c.LinkedFiles, c.LinkedDirs = []string{"log"}, []string{"./log"} }, `both name "log"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.withDefaults(Stage{}).validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// Every remote command is built from shell.Command values, whose every
// word goes through shell.Quote. shell.Raw hands a script to the shell
// unquoted: only these files may use it, for these reasons.
var rawAllowed = map[string]string{
	"secret.go":       "a fixed prefix of quoted variable names around a rendered command",
	"../ops/adhoc.go": "the operator's own command line (mage production run ...)",
	"shline.go":       "Host.Sh: a shell line the team wrote on purpose, documented as never to hold input",
	"healthcheck.go":  "the health check's retry loop: fixed shell text around numbers and commands rendered quoted",
}

func TestOnlyAllowedRawCommands(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	ops, _ := filepath.Glob("../ops/*.go") // the operator tools
	fset := token.NewFileSet()
	for _, f := range append(files, ops...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "shell" && sel.Sel.Name == "Raw" {
				if _, ok := rawAllowed[f]; !ok {
					t.Errorf("%s: shell.Raw bypasses quoting; build the command with shell.New", fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}

// A deploy_to whose name is full of shell syntax, and branch names that
// git allows but a shell would run, deploy on this machine exactly like
// plain ones; no canary file appears.
func TestLocalDeployHostileNames(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	canary := t.TempDir()
	weird := filepath.Join(t.TempDir(), "my app's \"dir\" $(touch "+canary+"/p1) `touch "+canary+"/p2` ;x")
	branches := []string{"x;touch${IFS}" + canary + "/p3", "$(touch${IFS}" + canary + "/p4)", "a`touch${IFS}" + canary + "/p5`b|c&d", "it's"}
	for _, b := range branches {
		gitIn(t, repo, "update-ref", "refs/heads/"+b, "HEAD")
	}
	linked := "config/a;touch${IFS}" + canary + "/p6 $(touch " + canary + "/p7).yml"
	d := isolate(t, Config{Application: "app", KeepReleases: 2, LinkedFiles: []string{linked},
		Env: map[string]string{"HOSTILE": "$(touch " + canary + "/p8)`touch " + canary + "/p9`"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.DeployTo = weird
	os.MkdirAll(filepath.Dir(filepath.Join(weird, "shared", linked)), 0o755)
	os.WriteFile(filepath.Join(weird, "shared", linked), []byte("linked\n"), 0o644)
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	head := gitIn(t, repo, "rev-parse", "HEAD")
	for i, b := range branches {
		st.Branch = b
		rel := remote.ReleaseNameAt(t0.Add(time.Duration(i) * 2 * time.Second))
		if out, err := localRun(t, d, st, Deploy, t0.Add(time.Duration(i)*2*time.Second)); err != nil {
			t.Fatalf("branch %q: %v\n%s", b, err, out)
		}
		if got := readLink(t, filepath.Join(weird, "current")); got != filepath.Join(weird, "releases", rel) {
			t.Errorf("branch %q: current -> %s", b, got)
		}
		assertFile(t, filepath.Join(weird, "releases", rel, linked), "linked\n")
		log, _ := os.ReadFile(filepath.Join(weird, "revisions.log"))
		if want := "Branch " + b + " (at " + head + ") deployed as release " + rel + " by alice\n"; !strings.HasSuffix(string(log), want) {
			t.Errorf("revisions.log does not end with %q:\n%s", want, log)
		}
	}
	if out, err := localRun(t, d, st, Rollback, t0.Add(time.Minute)); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	for _, bad := range []string{"--output=" + canary + "/p10", "-h"} {
		st.Branch = bad
		if _, err := localRun(t, d, st, Deploy, t0.Add(2*time.Minute)); err == nil || !strings.Contains(err.Error(), "would be read as an option") {
			t.Errorf("branch %q: %v", bad, err)
		}
	}
	st.Branch = "main"
	for i, u := range []string{"--upload-pack=touch " + canary + "/p11", "ext::sh -c touch% " + canary + "/p12"} {
		st.RepoURL = u
		if _, err := localRun(t, d, st, Deploy, t0.Add(3*time.Minute+time.Duration(i)*2*time.Second)); err == nil {
			t.Errorf("repository %q accepted", u)
		}
	}
	ents, _ := os.ReadDir(canary)
	for _, e := range ents {
		t.Errorf("canary file %s created: a hostile name was run as code", e.Name())
	}
	if _, err := os.Stat(remote.At(weird).LockDir()); !os.IsNotExist(err) {
		t.Errorf("lock left: %v", err)
	}
}
