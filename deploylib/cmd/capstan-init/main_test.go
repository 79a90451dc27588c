package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun: the flags reach the scaffold, and the exit status says what
// happened.
func TestRun(t *testing.T) {
	capDir, err := filepath.Abs("../../internal/capconv/testdata/shop/cap")
	if err != nil {
		t.Fatal(err)
	}
	module := func(t *testing.T) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
		return dir
	}
	tests := []struct {
		name    string
		args    func(dir string) []string
		status  int
		files   []string // must exist afterwards
		missing []string // must not
		out     string   // in stdout or stderr
	}{
		{"stages", func(d string) []string { return []string{"-dir", d, "-no-go-mod", "-stages", " qa, production ,"} }, 0,
			[]string{"stages/qa.go", "stages/production.go", "stages/local.go"}, []string{"stages/staging.go"}, "created stages/qa.go"},
		{"conversion", func(d string) []string {
			return []string{"-dir", d, "-no-go-mod", "-from-capistrano", capDir, "-stages", "staging"}
		}, 0,
			[]string{"magefiles/deploy.go", "stages/staging.go"}, []string{"stages/production.go", "magefiles/deploy_test.go"}, "Not translated or translated with a difference (5;"},
		{"conversion with -app", func(d string) []string { return []string{"-dir", d, "-from-capistrano", capDir, "-app", "x"} }, 2,
			nil, []string{"magefiles/deploy.go"}, "-app, -repo, -branch and -deploy-to come from the Capistrano project"},
		{"not Capistrano", func(d string) []string { return []string{"-dir", d, "-no-go-mod", "-from-capistrano", d} }, 1,
			nil, []string{"magefiles/deploy.go"}, "has no config/deploy.rb"},
		{"bad stage name", func(d string) []string { return []string{"-dir", d, "-no-go-mod", "-stages", "local"} }, 1,
			nil, []string{"magefiles/deploy.go"}, `stage name "local" is taken`},
		{"unknown flag", func(d string) []string { return []string{"-dir", d, "-nope"} }, 2, nil, nil, "flag provided but not defined: -nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := module(t)
			var out bytes.Buffer
			if got := run(context.Background(), tc.args(dir), &out, &out); got != tc.status {
				t.Errorf("exit status %d, want %d\n%s", got, tc.status, out.String())
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			for _, f := range tc.missing {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was written", f)
				}
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out.String())
			}
		})
	}

	// A second conversion over the first: status 3, files kept; -force
	// writes them.
	dir := module(t)
	args := []string{"-dir", dir, "-no-go-mod", "-from-capistrano", capDir}
	if got := run(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer)); got != 0 {
		t.Fatalf("first conversion: %d", got)
	}
	mine := []byte("package stages\n")
	os.WriteFile(filepath.Join(dir, "stages", "production.go"), mine, 0o644)
	var out bytes.Buffer
	if got := run(context.Background(), args, &out, &out); got != 3 || !strings.Contains(out.String(), "-force") {
		t.Errorf("second conversion: status %d\n%s", got, out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "production.go")); !bytes.Equal(b, mine) {
		t.Errorf("stages/production.go overwritten without -force")
	}
	if got := run(context.Background(), append(args, "-force"), new(bytes.Buffer), new(bytes.Buffer)); got != 0 {
		t.Errorf("-force: status %d", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stages", "production.go")); bytes.Equal(b, mine) {
		t.Errorf("stages/production.go not overwritten with -force")
	}
}
