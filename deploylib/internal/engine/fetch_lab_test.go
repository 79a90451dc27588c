//go:build unix

package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// In the script that takes the lock, git:update fetches only when the
// mirror's branch is not at the commit git:check listed: a redeploy of the
// same commit makes one connection to the git server (the listing), not
// two. A new commit is fetched and deployed; a branch whose name other
// refs end with (the listing has several lines) is always fetched. Each
// host's fetches are counted by its mirror's upload-pack.
func TestSameCommitIsNotFetchedAgainOnLab(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	deployTo := l.Hosts[0].DeployTo
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: deployTo})
	deployAt := labDeployAt(d, labStage(l))
	at := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	deploy := func() string {
		t.Helper()
		at = at.Add(2 * time.Second)
		out, err := deployAt(at)
		if err != nil {
			t.Fatalf("deploy: %v\n%s", err, out)
		}
		return remote.ReleaseNameAt(at)
	}
	head := func() string {
		out, err := exec.Command("git", "-C", l.Repo, "rev-parse", "main").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	dir, _ := labShared(t, l, "fetches")
	log := filepath.Join(dir, "log")
	fetches := func() int {
		b, _ := os.ReadFile(log)
		os.Remove(log)
		return strings.Count(string(b), "\n")
	}
	check := func(what string, release string, wantFetches int) {
		t.Helper()
		if got := fetches(); got != wantFetches {
			t.Errorf("%s: %d fetches, want %d", what, got, wantFetches)
		}
		want := head()
		for _, h := range l.Hosts {
			b, err := os.ReadFile(filepath.Join(h.Root, filepath.Base(deployTo), "releases", release, "REVISION"))
			if got := strings.TrimSpace(string(b)); err != nil || got != want {
				t.Errorf("%s: %s deployed %q (%v), want %s", what, h.Name, got, err, want)
			}
		}
	}

	deploy() // clones the mirrors
	for _, h := range l.Hosts {
		setUploadPack(t, h, deployTo, "echo fetch >> "+log)
	}
	check("the same commit again", deploy(), 0)
	labCommit(t, l)
	check("a new commit", deploy(), len(l.Hosts))
	check("the same commit after it", deploy(), 0)

	// A branch named x/main: git ls-remote main lists it too.
	if out, err := exec.Command("git", "-C", l.Repo, "branch", "x/main", "main").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	check("a listing of several refs", deploy(), len(l.Hosts))
}
