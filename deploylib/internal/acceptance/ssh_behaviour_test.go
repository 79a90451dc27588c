package acceptance_test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// releasesOn lists the release names in a host's releases/.
func releasesOn(h *lab.Host) []string {
	entries, _ := os.ReadDir(filepath.Join(h.Root, "app/releases"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func currentOn(h *lab.Host) string {
	l, _ := os.Readlink(filepath.Join(h.Root, "app/current"))
	return filepath.Base(l)
}

// asLabUser makes p (and its missing parents up to the host root) belong
// to the lab's login user.
func asLabUser(t *testing.T, l *lab.Lab, paths ...string) {
	t.Helper()
	u, err := user.Lookup(l.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		os.Lchown(p, uid, gid)
	}
}

func TestSSHMissingLinkedFileListedPerHost(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l, func(c *deploylib.Config) { c.LinkedFiles = []string{"config/secrets.yml", "config/db.yml"} })
	prepareShared(t, l) // secrets.yml on both hosts, db.yml nowhere
	db := filepath.Join(l.Hosts[0].Root, "app/shared/config/db.yml")
	os.WriteFile(db, []byte("x"), 0o600)
	asLabUser(t, l, db)

	_, err := start(t, d, sshStage(l), deploylib.Deploy, time.Now())
	if err == nil {
		t.Fatal("deploy succeeded with a missing linked file")
	}
	msg := err.Error()
	if !strings.Contains(msg, l.Hosts[1].Addr) || !strings.Contains(msg, "/shared/config/db.yml") {
		t.Errorf("error does not name host2 and its missing file:\n%s", msg)
	}
	if strings.Contains(msg, l.Hosts[0].Addr) {
		t.Errorf("error blames host1, which has every file:\n%s", msg)
	}
	for _, h := range l.Hosts {
		if r := releasesOn(h); len(r) != 0 {
			t.Errorf("%s: releases created: %v", h.Name, r)
		}
	}
}

func TestSSHCleanupKeepsFinishedReleasesAndDropsUnfinished(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l, func(c *deploylib.Config) { c.KeepReleases = 2 })
	prepareShared(t, l)
	st := sshStage(l)
	t0 := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	if out, err := start(t, d, st, deploylib.Deploy, t0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// A crashed run left an unfinished release and the usual junk.
	for _, h := range l.Hosts {
		app := filepath.Join(h.Root, "app")
		crashed := filepath.Join(app, "releases/20261125214010")
		marker := filepath.Join(app, ".capstan/unfinished/20261125214010")
		junk := filepath.Join(app, "releases/new")
		os.MkdirAll(crashed, 0o755)
		os.MkdirAll(junk, 0o755)
		os.WriteFile(marker, []byte("deadbeef\n"), 0o644)
		asLabUser(t, l, crashed, marker, junk)
	}
	for i := 1; i <= 3; i++ {
		if out, err := start(t, d, st, deploylib.Deploy, t0.Add(time.Duration(i)*20*time.Second)); err != nil {
			t.Fatalf("deploy %d: %v\n%s", i, err, out)
		}
	}
	for _, h := range l.Hosts {
		got := releasesOn(h)
		want := []string{"20261125214040", "20261125214100", "new"}
		if !slices.Equal(got, want) {
			t.Errorf("%s: releases %v, want %v (two finished kept, unfinished removed, junk untouched)", h.Name, got, want)
		}
		if c := currentOn(h); c != "20261125214100" {
			t.Errorf("%s: current %s", h.Name, c)
		}
	}
	// A rollback never targets an unfinished release: mark the older
	// finished one unfinished and there is nowhere to go.
	for _, h := range l.Hosts {
		m := filepath.Join(h.Root, "app/.capstan/unfinished/20261125214040")
		os.WriteFile(m, []byte("deadbeef\n"), 0o644)
		asLabUser(t, l, m)
	}
	if _, err := start(t, d, st, deploylib.Rollback, t0.Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "no older releases") {
		t.Errorf("rollback onto an unfinished release: %v", err)
	}
}

func TestSSHRollbackTargets(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	t0 := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if out, err := start(t, d, st, deploylib.Deploy, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("deploy %d: %v\n%s", i, err, out)
		}
	}
	t.Setenv("ROLLBACK_RELEASE", "20261125214099")
	if _, err := start(t, d, st, deploylib.Rollback, t0.Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "release 20261125214099 does not exist") {
		t.Errorf("rollback to a missing release: %v", err)
	}
	t.Setenv("ROLLBACK_RELEASE", "20261125214000")
	if out, err := start(t, d, st, deploylib.Rollback, t0.Add(time.Minute)); err != nil {
		t.Fatalf("rollback to the first release: %v\n%s", err, out)
	}
	for _, h := range l.Hosts {
		if c := currentOn(h); c != "20261125214000" {
			t.Errorf("%s: current %s, want 20261125214000", h.Name, c)
		}
	}
	// Hosts that disagree on the target refuse the rollback.
	t.Setenv("ROLLBACK_RELEASE", "")
	if out, err := start(t, d, st, deploylib.Deploy, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(l.Hosts[1].Root, "app/releases/20261125214001"))
	_, err := start(t, d, st, deploylib.Rollback, t0.Add(3*time.Minute))
	if err == nil || !strings.Contains(err.Error(), "hosts disagree") || !strings.Contains(err.Error(), l.Hosts[1].Addr[:9]) {
		t.Errorf("rollback with disagreeing hosts: %v", err)
	}
	for _, h := range l.Hosts {
		if c := currentOn(h); c != "20261125214200" {
			t.Errorf("%s: a refused rollback moved current to %s", h.Name, c)
		}
	}
}

func TestSSHUploadStrategy(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	build := filepath.Join(t.TempDir(), "dist")
	os.MkdirAll(filepath.Join(build, "bin"), 0o755)
	os.WriteFile(filepath.Join(build, "bin", "shop"), []byte("#!/bin/sh\necho shop\n"), 0o755)
	repo, _ := os.Getwd() // this repository gives the revision
	d := configure(t, l, func(c *deploylib.Config) {
		c.RepoURL = ""
		c.LinkedFiles = nil
		c.Strategy = deploylib.Upload{Dir: build, Repo: repo}
	})
	if out, err := start(t, d, sshStage(l), deploylib.Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range l.Hosts {
		fi, err := os.Stat(filepath.Join(h.Root, "app/releases/20261125214042/bin/shop"))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: bin/shop %v %v", h.Name, fi, err)
		}
		if _, err := os.Stat(filepath.Join(h.Root, "app/repo")); !os.IsNotExist(err) {
			t.Errorf("%s: upload made a git mirror", h.Name)
		}
	}
}

func TestSSHGitRepoTreeAndShallowClone(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	// The lab repository's tree: find a directory in it to deploy alone.
	tree := gitLsTree(t, l.Repo)
	if tree == "" {
		t.Fatal("the lab repository has no directory")
	}
	d := configure(t, l, func(c *deploylib.Config) {
		c.RepoURL = "file://" + l.Repo // shallow clones need a transport, not a path
		c.LinkedFiles, c.LinkedDirs = nil, nil
		c.Strategy = deploylib.Git{ShallowClone: 1, MaxConcurrent: 1}
		c.RepoTree = tree
	})
	if out, err := start(t, d, sshStage(l), deploylib.Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range l.Hosts {
		rel := filepath.Join(h.Root, "app/releases/20261125214042")
		entries, _ := os.ReadDir(rel)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if slices.Contains(names, tree) || !slices.Contains(names, "REVISION") || len(names) < 2 {
			t.Errorf("%s: release holds %v, want the contents of %s/ and REVISION", h.Name, names, tree)
		}
		out, err := exec.Command("git", "-c", "safe.directory=*", "-C", filepath.Join(h.Root, "app/repo"), "rev-list", "--count", "--all").Output()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("%s: shallow mirror holds %q commits (%v), want 1", h.Name, out, err)
		}
	}
}

// gitLsTree returns the first directory at the top of main in repo.
func gitLsTree(t *testing.T, repo string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "ls-tree", "-d", "--name-only", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return name
}
