package deployns

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/targets"
)

// TestCheckRunsTheTaskAndDoctorChangesNothing: mage <stage> deploy:check
// runs the flow's deploy:check task with the hooks hung on deploylib.Check
// and creates the directories, as Capistrano's does, and releases the lock
// it took; mage <stage> doctor
// runs no hook and changes nothing, before the first deploy:check and
// after it.
//
// It uses the default Deployment, as the targets do, so it is the only
// test of this package that selects a stage.
func TestCheckRunsTheTaskAndDoctorChangesNothing(t *testing.T) {
	for _, k := range []string{"HOSTS", "ROLES", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	t.Setenv("CAPSTAN_LOG_FILE", "off")
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "v1")
	st, err := deploylib.LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	deploylib.Configure(deploylib.Config{Application: "app", LinkedDirs: []string{"log"}})
	deploylib.UseStage(st)
	hooks := 0
	deploylib.Before(deploylib.Check, func(context.Context) error { hooks++; return nil })
	lock := filepath.Join(st.DeployTo, ".capstan", "lock")
	held := false
	deploylib.After(deploylib.Lock, func(context.Context) error { _, err := os.Lstat(lock); held = err == nil; return nil })

	ctx := context.Background()
	before := tree(t, repo)
	if err := targets.Doctor(ctx); err != nil {
		t.Fatalf("doctor before the first deploy: %v", err)
	}
	if hooks != 0 {
		t.Errorf("doctor ran %d deploy:check hooks, want none", hooks)
	}
	if after := tree(t, repo); after != before {
		t.Errorf("doctor changed the files\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if err := (Deploy{}).Check(ctx); err != nil {
		t.Fatalf("deploy:check: %v", err)
	}
	if hooks != 1 {
		t.Errorf("deploy:check ran %d hooks hung on deploylib.Check, want 1", hooks)
	}
	for _, dir := range []string{"releases", "shared/log"} {
		if fi, err := os.Stat(filepath.Join(st.DeployTo, dir)); err != nil || !fi.IsDir() {
			t.Errorf("deploy:check did not create %s: %v", dir, err)
		}
	}

	if _, err := os.Lstat(lock); !held || !os.IsNotExist(err) {
		t.Errorf("deploy:check held the deploy lock %s: %v, and left it held: %v", lock, held, err)
	}

	before = tree(t, repo)
	if err := targets.Doctor(ctx); err != nil {
		t.Fatalf("doctor after deploy:check: %v", err)
	}
	if hooks != 1 {
		t.Errorf("doctor ran a deploy:check hook (%d runs, want 1)", hooks)
	}
	if after := tree(t, repo); after != before {
		t.Errorf("doctor changed the files\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// tree lists every file and directory under dir with its mode, size and
// modification time.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v %d %v\n", rel, fi.Mode(), fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
