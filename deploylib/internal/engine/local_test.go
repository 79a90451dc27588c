package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// localRun runs task on the local stage of repo, with a clock that starts
// at start.
func localRun(t *testing.T, d *Deployment, st Stage, task *Task, start time.Time) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := d.Start(context.Background(), task, WithStage(st), WithOutput(&out), WithColor(false),
		WithClock(func() time.Time { return start }))
	return out.String(), err
}

func readLink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLocalDeployAndRollback(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required: apt-get install git")
	}
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 5, LinkedFiles: []string{"config/secrets.yml"}, LinkedDirs: []string{"log"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	deployTo := st.DeployTo
	os.MkdirAll(filepath.Join(deployTo, "shared", "config"), 0o755)
	os.WriteFile(filepath.Join(deployTo, "shared", "config", "secrets.yml"), []byte("shared secret\n"), 0o600)

	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	sha1 := gitIn(t, repo, "rev-parse", "HEAD")
	if out, err := localRun(t, d, st, Deploy, t0); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	sha2 := commit(t, repo, "v2\n")
	if out, err := localRun(t, d, st, Deploy, t0.Add(4*time.Second)); err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}

	r1 := filepath.Join(deployTo, "releases", "20261125214038")
	r2 := filepath.Join(deployTo, "releases", "20261125214042")
	if got := readLink(t, filepath.Join(deployTo, "current")); got != r2 {
		t.Errorf("current -> %s, want %s (absolute)", got, r2)
	}
	assertFile(t, filepath.Join(r1, "REVISION"), sha1+"\n")
	assertFile(t, filepath.Join(r2, "REVISION"), sha2+"\n")
	assertFile(t, filepath.Join(r2, "README"), "v2\n")
	if rt, _ := os.ReadFile(filepath.Join(r2, "REVISION_TIME")); !regexp.MustCompile(`^[0-9]{10}\n$`).Match(rt) {
		t.Errorf("REVISION_TIME = %q", rt)
	}
	// Linked files and dirs replace what the archive brought.
	if got := readLink(t, filepath.Join(r2, "config", "secrets.yml")); got != filepath.Join(deployTo, "shared", "config", "secrets.yml") {
		t.Errorf("config/secrets.yml -> %s", got)
	}
	assertFile(t, filepath.Join(r2, "config", "secrets.yml"), "shared secret\n")
	if got := readLink(t, filepath.Join(r2, "log")); got != filepath.Join(deployTo, "shared", "log") {
		t.Errorf("log -> %s", got)
	}
	if _, err := os.Stat(filepath.Join(deployTo, "repo", "HEAD")); err != nil {
		t.Errorf("no git mirror: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(deployTo, ".capstan", "unfinished")); len(entries) != 0 {
		t.Errorf("unfinished markers left: %v", entries)
	}

	if out, err := localRun(t, d, st, Rollback, t0.Add(8*time.Second)); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := readLink(t, filepath.Join(deployTo, "current")); got != r1 {
		t.Errorf("after rollback current -> %s, want %s", got, r1)
	}
	if _, err := os.Stat(r2); !os.IsNotExist(err) {
		t.Errorf("rolled-back release still exists: %v", err)
	}
	if _, err := os.Stat(filepath.Join(deployTo, "rolled-back-release-20261125214042.tar.gz")); err != nil {
		t.Errorf("no rolled-back archive: %v", err)
	}
	assertFile(t, filepath.Join(deployTo, "revisions.log"),
		"Branch main (at "+sha1+") deployed as release 20261125214038 by alice\n"+
			"Branch main (at "+sha2+") deployed as release 20261125214042 by alice\n"+
			"alice rolled back to release 20261125214038\n")

	// A second rollback has nowhere to go.
	out, err := localRun(t, d, st, Rollback, t0.Add(12*time.Second))
	if err == nil || !strings.Contains(err.Error(), "no older releases") {
		t.Errorf("rollback with no previous release: %v\n%s", err, out)
	}
	if got := readLink(t, filepath.Join(deployTo, "current")); got != r1 {
		t.Errorf("failed rollback moved current to %s", got)
	}
}

func TestLocalDeployBadSource(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)

	missing := st
	missing.Branch = "no-such-branch"
	_, err = localRun(t, d, missing, Deploy, t0)
	if err == nil || !strings.Contains(err.Error(), `branch "no-such-branch" does not exist`) {
		t.Errorf("missing branch: %v", err)
	}

	unreadable := st
	unreadable.RepoURL = filepath.Join(t.TempDir(), "nothing-here")
	_, err = localRun(t, d, unreadable, Deploy, t0)
	if err == nil || !strings.Contains(err.Error(), "cannot read repository") {
		t.Errorf("unreadable repository: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(st.DeployTo, "releases")); len(entries) != 0 {
		t.Errorf("releases created despite bad source: %v", entries)
	}
}

func TestLocalDeployLinkedFileMissing(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", LinkedFiles: []string{"config/database.yml", "config/secrets.yml"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	_, err = localRun(t, d, st, Deploy, time.Now())
	if err == nil || !strings.Contains(err.Error(), "linked files missing from shared/") || !strings.Contains(err.Error(), "config/database.yml, ") {
		t.Fatalf("error = %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(st.DeployTo, "releases")); len(entries) != 0 {
		t.Errorf("a release was created: %v", entries)
	}
}

func TestLocalGitRepoTreeAndShallow(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	commit(t, repo, "v2\n")
	d := isolate(t, Config{Application: "app", RepoTree: "config", Strategy: Git{ShallowClone: 1}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.RepoURL = "file://" + repo // a shallow clone needs a transport, not a path
	if out, err := localRun(t, d, st, Deploy, time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	rel := filepath.Join(st.DeployTo, "releases", "20261125214042")
	assertFile(t, filepath.Join(rel, "secrets.yml"), "from the repo\n")
	if _, err := os.Stat(filepath.Join(rel, "README")); !os.IsNotExist(err) {
		t.Errorf("README outside RepoTree was deployed: %v", err)
	}
	if n := gitIn(t, filepath.Join(st.DeployTo, "repo"), "rev-list", "--count", "--all"); n != "1" {
		t.Errorf("shallow mirror holds %s commits, want 1", n)
	}
}
