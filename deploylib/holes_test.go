package deploylib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snapshot returns every path below dir with its content (files), target
// (symlinks) or "dir", to check that a tree did not change.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[p] = "-> " + l
		case fi.IsDir():
			m[p] = "dir"
		default:
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s: %s changed: %q -> %q", what, p, v, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// Nested linked dirs are refused when the configuration is read, before
// anything changes: a deploy used to remove shared/public/uploads through
// the new public link and leave a link to itself.
func TestNestedLinkedDirsRefusedBeforeAnythingChanges(t *testing.T) {
	repo := newGitRepo(t)
	isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"public"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	if out, err := localRun(t, st, Deploy, t0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	uploads := filepath.Join(st.DeployTo, "shared", "public", "uploads")
	os.MkdirAll(uploads, 0o755)
	os.WriteFile(filepath.Join(uploads, "photo.jpg"), []byte("a customer's photo"), 0o644)
	before := snapshot(t, st.DeployTo)

	isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"public", "public/uploads"}})
	out, err := localRun(t, st, Deploy, t0.Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), `"public/uploads" is inside the linked dir "public"`) {
		t.Fatalf("error = %v, want the overlap named\n%s", err, out)
	}
	sameTree(t, "deploy_to", before, snapshot(t, st.DeployTo))
}

// A symlink committed in the repository (storage -> a directory outside
// deploy_to) with a linked dir below it: the link step refuses, and
// nothing outside the release changes. It used to remove the outside
// directory's cache through the committed link.
func TestCommittedSymlinkNeverFollowedByLinkSteps(t *testing.T) {
	repo := newGitRepo(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(outside, "cache"), 0o755)
	os.WriteFile(filepath.Join(outside, "cache", "keep.me"), []byte("not the deploy's"), 0o644)
	if err := os.Symlink(outside, filepath.Join(repo, "storage")); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "storage link")
	isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"storage/cache"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, outside)
	out, err := localRun(t, st, Deploy, time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error()+out, "is a symbolic link in the release") {
		t.Fatalf("error = %v, want the committed symlink refused\n%s", err, out)
	}
	sameTree(t, "outside deploy_to", before, snapshot(t, outside))
	if _, err := os.Lstat(filepath.Join(st.DeployTo, "current")); !os.IsNotExist(err) {
		t.Errorf("current exists after a failed first deploy: %v", err)
	}
}
