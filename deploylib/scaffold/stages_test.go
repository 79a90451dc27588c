package scaffold

import (
	"bytes"
	"context"
	"errors"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStagesOption: -stages names the stage files of a fresh scaffold;
// the first is the commented example of several servers, and the
// magefile's comments name it.
func TestStagesOption(t *testing.T) {
	files, err := Files(Options{Dir: t.TempDir(), Application: "shop", RepoURL: "git@github.com:acme/shop.git", Branch: "main", Stages: []string{"qa", "production"}}, "example.com/shop")
	if err != nil {
		t.Fatal(err)
	}
	content := map[string]string{}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
		content[f.Path] = f.Content
		if strings.HasSuffix(f.Path, ".go") {
			if b, err := format.Source([]byte(f.Content)); err != nil || string(b) != f.Content {
				t.Errorf("%s is not gofmt-clean: %v", f.Path, err)
			}
		}
	}
	want := []string{"magefiles/deploy.go", "magefiles/deploy_test.go", "stages/qa.go", "stages/production.go", "stages/local.go", ".vscode/settings.json"}
	if !slices.Equal(paths, want) {
		t.Fatalf("files %q, want %q", paths, want)
	}
	for path, wants := range map[string][]string{
		"stages/qa.go":         {"// Package stages holds the deploy stages", "// Qa selects the qa servers.\nfunc Qa() {", `Name: "qa",`},
		"stages/production.go": {"// Production selects the production server.\nfunc Production() {", `Name: "production",`, `"deploy@production.example.com"`},
		"magefiles/deploy.go":  {`_ "example.com/shop/stages" // qa, production, local`, "// go tool mage qa deploy                   deploy (stages/qa.go)\n"},
	} {
		for _, w := range wants {
			if !strings.Contains(content[path], w) {
				t.Errorf("%s lacks %q:\n%s", path, w, content[path])
			}
		}
	}
	if strings.Contains(content["stages/production.go"], "// Package stages") {
		t.Errorf("stages/production.go repeats the package comment")
	}
	for _, bad := range [][]string{{"local"}, {"deploy"}, {"Qa!"}, {"1st"}} {
		if _, err := Files(Options{Dir: t.TempDir(), Stages: bad}, "example.com/shop"); err == nil {
			t.Errorf("stages %q: no error", bad)
		}
	}
}

func capProject(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../internal/capconv/testdata/shop/cap")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFromCapistrano: a conversion writes the converted files and the
// summary of what it did not translate, refuses to overwrite them, and
// overwrites them with Force.
func TestFromCapistrano(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	var out bytes.Buffer
	o := Options{Dir: dir, Out: &out, SkipGoMod: true, FromCapistrano: capProject(t)}
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"created magefiles/deploy.go\n", "created stages/production.go\n", "created stages/staging.go\n", "created .vscode/settings.json\n",
		"Not translated or translated with a difference (5; each is a TODO(capstan-init) comment in the Go):\n",
		"  " + filepath.Join(capProject(t), "Capfile") + ":10: plugin capistrano/bundler has no Go equivalent",
		"  " + filepath.Join(capProject(t), "config/deploy.rb") + ":14: set :pty has no Capstan equivalent",
		"go tool mage flow deploy                 shows where each hook runs (cap production deploy --dry-run --trace)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, p := range []string{"magefiles/deploy_test.go", "stages/local.go"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("a conversion wrote %s", p)
		}
	}
	golden, _ := os.ReadFile("../internal/capconv/testdata/shop/want/stages/staging.go")
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "staging.go")); !bytes.Equal(b, golden) {
		t.Errorf("stages/staging.go is not the converter's:\n%s", b)
	}

	// Edited by hand: a second conversion refuses and changes nothing.
	mine := []byte("package stages // edited\n")
	os.WriteFile(filepath.Join(dir, "stages", "staging.go"), mine, 0o644)
	err := Run(context.Background(), Options{Dir: dir, Out: new(bytes.Buffer), SkipGoMod: true, FromCapistrano: capProject(t)})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "magefiles/deploy.go, stages/production.go, stages/staging.go") || !strings.Contains(err.Error(), "-force") {
		t.Errorf("second conversion: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "staging.go")); !bytes.Equal(b, mine) {
		t.Errorf("stages/staging.go was overwritten without Force")
	}
	// With Force it is written again.
	if err := Run(context.Background(), Options{Dir: dir, Out: new(bytes.Buffer), SkipGoMod: true, FromCapistrano: capProject(t), Force: true}); err != nil {
		t.Fatalf("Force: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "staging.go")); !bytes.Equal(b, golden) {
		t.Errorf("stages/staging.go was not overwritten with Force")
	}

	// Stages picks the stage files of a conversion.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	if err := Run(context.Background(), Options{Dir: dir2, Out: new(bytes.Buffer), SkipGoMod: true, FromCapistrano: capProject(t), Stages: []string{"staging"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "stages", "production.go")); err == nil {
		t.Errorf("Stages staging wrote stages/production.go")
	}

	// Not a Capistrano project: an error naming the missing file, and
	// nothing written.
	dir3 := t.TempDir()
	os.WriteFile(filepath.Join(dir3, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	err = Run(context.Background(), Options{Dir: dir3, Out: new(bytes.Buffer), SkipGoMod: true, FromCapistrano: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "has no config/deploy.rb") {
		t.Errorf("no deploy.rb: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir3, "magefiles")); err == nil {
		t.Errorf("magefiles/ was written for a project that is not Capistrano's")
	}
}
