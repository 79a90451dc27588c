package acceptance_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The same team deploy written twice, in testdata/capcompare: as a
// Capistrano 3 project (Capfile, config/deploy.rb, config/deploy/*.rb,
// lib/capistrano/tasks/app.rake) and as a Capstan project written the
// documented way (magefiles/deploy.go, stages/*.go). A Go service, three
// staging servers, an own restart task, a migrate hook on the primary db,
// per-stage settings and a secret. docs/capistrano.md shows both side by
// side with the counts this test logs (go test -v -run TestCapistranoLineCount).
const capCompare = "testdata/capcompare"

// maxCapstanRatio is how many lines Capstan may take for each line of
// Capistrano.
const maxCapstanRatio = 1.2

// countLines counts the lines of code of a Ruby or Go file: not blank and
// not a comment. Go's build constraints (//go:build) and mage's import
// directives (//mage:import) are code: the project does not build without
// them.
func countLines(name, text string) int {
	n := 0
	comment := "#"
	if strings.HasSuffix(name, ".go") {
		comment = "//"
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "//go:build "), strings.HasPrefix(line, "//mage:import"):
			n++
		case strings.HasPrefix(line, comment):
		default:
			n++
		}
	}
	return n
}

func TestCountLines(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"deploy.rb", "# a comment\n\nset :a, 1\n  # indented\nend\n", 2},
		{"deploy.go", "//go:build mage\n\n// Package main.\npackage main\n\t//mage:import\n\t_ \"x\"\n// x\n}", 5},
		{"empty.go", "", 0},
	} {
		if got := countLines(tc.name, tc.text); got != tc.want {
			t.Errorf("countLines(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// projectLines returns the lines of code of every file under dir, by
// path relative to dir, and their sum.
func projectLines(t *testing.T, dir string) (map[string]int, int) {
	t.Helper()
	files, total := map[string]int{}, 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = countLines(p, string(b))
		total += files[rel]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, total
}

// TestCapistranoLineCount: the Capstan project takes at most 1.2 times
// the lines of the Capistrano one.
func TestCapistranoLineCount(t *testing.T) {
	capFiles, capTotal := projectLines(t, filepath.Join(capCompare, "capistrano"))
	goFiles, goTotal := projectLines(t, filepath.Join(capCompare, "capstan"))
	for _, want := range []string{"Capfile", "config/deploy.rb", "config/deploy/staging.rb", "config/deploy/production.rb", "lib/capistrano/tasks/app.rake"} {
		if capFiles[want] == 0 {
			t.Errorf("the Capistrano project has no %s", want)
		}
	}
	for _, want := range []string{"magefiles/deploy.go", "stages/staging.go", "stages/production.go"} {
		if goFiles[want] == 0 {
			t.Errorf("the Capstan project has no %s", want)
		}
	}
	for _, p := range []struct {
		name  string
		files map[string]int
		total int
	}{{"Capistrano", capFiles, capTotal}, {"Capstan", goFiles, goTotal}} {
		for _, f := range slices.Sorted(maps.Keys(p.files)) {
			t.Logf("%-10s %3d %s", p.name, p.files[f], f)
		}
		t.Logf("%-10s %3d lines in all", p.name, p.total)
	}
	ratio := float64(goTotal) / float64(capTotal)
	t.Logf("Capstan/Capistrano = %d/%d = %.2f", goTotal, capTotal, ratio)
	if ratio > maxCapstanRatio {
		t.Errorf("Capstan takes %d lines, %.2f times Capistrano's %d: more than %.1f", goTotal, ratio, capTotal, maxCapstanRatio)
	}
}

// TestCapistranoProjectFlow builds the Capstan project in a module of its
// own (this checkout through a replace directive), and checks that mage
// flow deploy runs the team's hooks where cap staging deploy --dry-run
// --trace runs the Capistrano project's tasks: each after the same
// standard task, in the same order. mage tasks lists the team task with
// its doc, and mage staging config shows the stage's set and append.
func TestCapistranoProjectFlow(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds and runs mage and cap (-short)")
	}
	if _, err := exec.LookPath("cap"); err != nil {
		t.Fatal("cap is missing: apt-get install capistrano (go tool mage test installs it)")
	}
	root, err := filepath.Abs("../../..") // the repository's top level
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(capCompare, "capstan"))); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "MAGEFILE_CACHE="+t.TempDir(), "CAPSTAN_COLOR=never",
		"HOSTS=", "ROLES=", "DRY_RUN=", "VERBOSE=", "BRANCH=", "CAPSTAN_LOG_FILE=off", "DATABASE_URL=postgres://orders:pw-1f2e3d@db/orders")
	run := func(dir, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("%5.1fs %s %s", time.Since(start).Seconds(), name, strings.Join(args, " "))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const module = "github.com/capstan-deploy/capstan"
	run(dir, "go", "mod", "init", "example.com/orders")
	run(dir, "go", "mod", "edit", "-require="+module+"@v0.0.0-00010101000000-000000000000", "-replace="+module+"="+root,
		"-require=github.com/magefile/mage@v1.17.2", "-tool=github.com/magefile/mage")
	// This module's go.sum holds what the project needs, mage included.
	if sum, err := os.ReadFile(filepath.Join(root, "go.sum")); err != nil || os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644) != nil {
		t.Fatalf("go.sum: %v", err)
	}
	run(dir, "go", "vet", "-tags", "mage", "./...")
	flow := run(dir, "go", "tool", "mage", "flow", "deploy")

	// Capistrano: the order in which rake executes the tasks.
	capDir := t.TempDir()
	if err := os.CopyFS(capDir, os.DirFS(filepath.Join(capCompare, "capistrano"))); err != nil {
		t.Fatal(err)
	}
	trace := run(capDir, "cap", "staging", "deploy", "--dry-run", "--trace")
	var capOrder []string
	sc := bufio.NewScanner(strings.NewReader(trace))
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "** Execute "); ok {
			capOrder = append(capOrder, name)
		}
	}
	// mage flow deploy's tree, in the order the tasks run: a task, its
	// [before] hooks... its steps, its [after] hooks.
	var capstanOrder []string
	for _, line := range strings.Split(flow, "\n") {
		if line = strings.TrimSpace(line); line == "(when a task above fails)" {
			break
		}
		if line != "" && line != "[before]" && line != "[after]" {
			capstanOrder = append(capstanOrder, line)
		}
	}
	// The team's tasks: the Capistrano name and the Capstan one.
	team := [][2]string{{"deploy:build", "main.build"}, {"deploy:migrate", "main.migrate"}, {"app:restart", "app:restart"}}
	isTeam := func(name string) bool {
		return slices.ContainsFunc(team, func(p [2]string) bool { return p[0] == name || p[1] == name })
	}
	// after returns the standard task that runs last before name in order,
	// and name's position.
	after := func(order []string, name string) (string, int) {
		i := slices.Index(order, name)
		for j := i - 1; j >= 0; j-- {
			if !isTeam(order[j]) {
				return order[j], i
			}
		}
		return "", i
	}
	lastCap, lastCapstan := -1, -1
	for _, p := range team {
		capAfter, ci := after(capOrder, p[0])
		capstanAfter, gi := after(capstanOrder, p[1])
		t.Logf("%s runs after %s in Capistrano; %s after %s in Capstan", p[0], capAfter, p[1], capstanAfter)
		if ci < 0 || gi < 0 || capAfter == "" || capAfter != capstanAfter {
			t.Errorf("%s runs after %q in Capistrano, %s after %q in Capstan", p[0], capAfter, p[1], capstanAfter)
		}
		if ci < lastCap || gi < lastCapstan {
			t.Errorf("%s runs in another order than in Capistrano", p[0])
		}
		lastCap, lastCapstan = ci, gi
	}
	if t.Failed() {
		t.Logf("cap:\n%s\nmage flow deploy:\n%s", strings.Join(capOrder, "\n"), flow)
	}

	tasks := run(dir, "go", "tool", "mage", "tasks")
	if want := "app:restart  Restarts the service, one server at a time. (runs after deploy:published)"; !strings.Contains(tasks, want) {
		t.Errorf("mage tasks lacks %q:\n%s", want, tasks)
	}
	config := run(dir, "go", "tool", "mage", "staging", "config")
	for _, want := range []string{"configuration of stage staging", "keep_releases    3", "linked_dirs      log, tmp/pids, tmp/uploads", "systemd_unit=orders-staging", "deploy@staging3.acme.internal"} {
		if !strings.Contains(config, want) {
			t.Errorf("mage staging config lacks %q:\n%s", want, config)
		}
	}
}

// TestCapistranoGuide: docs/capistrano.md shows both projects as they are
// in testdata, with the counts TestCapistranoLineCount computes.
func TestCapistranoGuide(t *testing.T) {
	b, err := os.ReadFile("../../../docs/capistrano.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var totals []int
	for _, side := range []string{"capistrano", "capstan"} {
		dir := filepath.Join(capCompare, side)
		files, total := projectLines(t, dir)
		totals = append(totals, total)
		for f, n := range files {
			text, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(doc, "\n"+string(text)+"```\n") {
				t.Errorf("docs/capistrano.md does not show %s/%s as it is", side, f)
			}
			if row := fmt.Sprintf("`%s` | %d |", f, n); !strings.Contains(doc, row) {
				t.Errorf("docs/capistrano.md lacks the count %q", row)
			}
		}
	}
	want := fmt.Sprintf("| **total** | **%d** | **total** | **%d** (%.2f times) |", totals[0], totals[1], float64(totals[1])/float64(totals[0]))
	if !strings.Contains(doc, want) {
		t.Errorf("docs/capistrano.md lacks the totals %q", want)
	}
}
