package capconv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
