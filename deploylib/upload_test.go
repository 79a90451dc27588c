package deploylib

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUploadDirectory(t *testing.T) {
	repo := newGitRepo(t)
	build := filepath.Join(t.TempDir(), "dist")
	os.MkdirAll(filepath.Join(build, "bin"), 0o755)
	os.WriteFile(filepath.Join(build, "bin", "shop"), []byte("#!/bin/sh\necho shop\n"), 0o755)
	os.WriteFile(filepath.Join(build, "VERSION"), []byte("1.2.3\n"), 0o644)
	os.Symlink("bin/shop", filepath.Join(build, "run"))

	isolate(t, Config{Application: "shop", Strategy: Upload{Dir: build, Repo: repo}, LinkedDirs: []string{"log"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.RepoURL = "" // the upload strategy needs no repository on the servers
	out, err := localRun(t, st, Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
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
	repo := newGitRepo(t)
	isolate(t, Config{Application: "shop", Strategy: Upload{Repo: repo}, RepoTree: "config"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	out, err := localRun(t, st, Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	rel := filepath.Join(st.DeployTo, "releases", "20261125214042")
	assertFile(t, filepath.Join(rel, "secrets.yml"), "from the repo\n")
	if _, err := os.Stat(filepath.Join(rel, "README")); !os.IsNotExist(err) {
		t.Errorf("README outside RepoTree was deployed: %v", err)
	}
}
