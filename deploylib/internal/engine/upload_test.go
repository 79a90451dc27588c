package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

func TestUploadDirectory(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	build := filepath.Join(t.TempDir(), "dist")
	os.MkdirAll(filepath.Join(build, "bin"), 0o755)
	os.WriteFile(filepath.Join(build, "bin", "shop"), []byte("#!/bin/sh\necho shop\n"), 0o755)
	os.WriteFile(filepath.Join(build, "VERSION"), []byte("1.2.3\n"), 0o644)
	os.Symlink("bin/shop", filepath.Join(build, "run"))

	d := isolate(t, Config{Application: "shop", Strategy: Upload{Dir: build, Repo: repo}, LinkedDirs: []string{"log"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.RepoURL = "" // the upload strategy needs no repository on the servers
	out, err := localRun(t, d, st, Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	rel := filepath.Join(st.DeployTo, "releases", "20261125214042")
	fi, err := os.Stat(filepath.Join(rel, "bin", "shop"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/shop: %v %v, want mode 0755", fi, err)
	}
	assertFile(t, filepath.Join(rel, "VERSION"), "1.2.3\n")
	if l, _ := os.Readlink(filepath.Join(rel, "run")); l != "bin/shop" {
		t.Errorf("run -> %q, want bin/shop", l)
	}
	assertFile(t, filepath.Join(rel, "REVISION"), gitIn(t, repo, "rev-parse", "HEAD")+"\n")
	if _, err := os.Stat(filepath.Join(st.DeployTo, "repo")); !os.IsNotExist(err) {
		t.Errorf("the upload strategy made a repo/ mirror: %v", err)
	}
	if l, _ := os.Readlink(filepath.Join(st.DeployTo, "current")); l != rel {
		t.Errorf("current -> %s", l)
	}
}

func TestUploadGitArchiveWithRepoTree(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "shop", Strategy: Upload{Repo: repo}, RepoTree: "config"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	out, err := localRun(t, d, st, Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	rel := filepath.Join(st.DeployTo, "releases", "20261125214042")
	assertFile(t, filepath.Join(rel, "secrets.yml"), "from the repo\n")
	if _, err := os.Stat(filepath.Join(rel, "README")); !os.IsNotExist(err) {
		t.Errorf("README outside RepoTree was deployed: %v", err)
	}
}

// Upload.Build runs before the deploy lock is taken, and a release built
// from a working tree with uncommitted changes is recorded as <sha>-dirty,
// with a warning.
func TestUploadBuildBeforeTheLockAndDirtyTree(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	dist := filepath.Join(t.TempDir(), "dist")
	var lockedDuringBuild []bool
	build := func(ctx context.Context) error {
		st := CurrentRun(ctx).Stage
		_, err := os.Stat(remote.At(st.DeployTo).LockDir())
		lockedDuringBuild = append(lockedDuringBuild, err == nil)
		os.MkdirAll(dist, 0o755)
		return os.WriteFile(filepath.Join(dist, "shop"), []byte("built"), 0o755)
	}
	d := isolate(t, Config{Application: "shop", Strategy: Upload{Dir: dist, Repo: repo, Build: build}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.RepoURL = ""
	head := gitIn(t, repo, "rev-parse", "HEAD")
	t0 := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	out, err := localRun(t, d, st, Deploy, t0)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	assertFile(t, filepath.Join(st.DeployTo, "current", "shop"), "built")
	assertFile(t, filepath.Join(st.DeployTo, "current", "REVISION"), head+"\n")
	if strings.Contains(out, "uncommitted changes") {
		t.Errorf("a clean tree was reported dirty:\n%s", out)
	}

	os.WriteFile(filepath.Join(repo, "README"), []byte("edited, not committed\n"), 0o644)
	out, err = localRun(t, d, st, Deploy, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	assertFile(t, filepath.Join(st.DeployTo, "current", "REVISION"), head+"-dirty\n")
	if !strings.Contains(out, "has uncommitted changes") || !strings.Contains(out, head+"-dirty") {
		t.Errorf("no warning about the dirty tree:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(st.DeployTo, "revisions.log"))
	if !strings.Contains(string(log), "(at "+head+"-dirty)") {
		t.Errorf("revisions.log does not mark the dirty revision:\n%s", log)
	}
	if len(lockedDuringBuild) != 2 || lockedDuringBuild[0] || lockedDuringBuild[1] {
		t.Errorf("Build ran %d times; under the lock: %v", len(lockedDuringBuild), lockedDuringBuild)
	}
}
