package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
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
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"public"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	if out, err := localRun(t, d, st, Deploy, t0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	uploads := filepath.Join(st.DeployTo, "shared", "public", "uploads")
	os.MkdirAll(uploads, 0o755)
	os.WriteFile(filepath.Join(uploads, "photo.jpg"), []byte("a customer's photo"), 0o644)
	before := snapshot(t, st.DeployTo)

	d = isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"public", "public/uploads"}})
	out, err := localRun(t, d, st, Deploy, t0.Add(time.Minute))
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
	t.Parallel()
	repo := newGitRepo(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(outside, "cache"), 0o755)
	os.WriteFile(filepath.Join(outside, "cache", "keep.me"), []byte("not the deploy's"), 0o644)
	if err := os.Symlink(outside, filepath.Join(repo, "storage")); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "storage link")
	d := isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"storage/cache"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, outside)
	out, err := localRun(t, d, st, Deploy, time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error()+out, "is a symbolic link in the release") {
		t.Fatalf("error = %v, want the committed symlink refused\n%s", err, out)
	}
	sameTree(t, "outside deploy_to", before, snapshot(t, outside))
	if _, err := os.Lstat(filepath.Join(st.DeployTo, "current")); !os.IsNotExist(err) {
		t.Errorf("current exists after a failed first deploy: %v", err)
	}
}

// Every standard task that works on the run's release, started on its own
// (mage <stage> task <name>), refuses with a clear error and changes
// nothing. deploy:symlink:release used to point current at itself.
func TestStandaloneReleaseTasksRefuse(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 3, LinkedDirs: []string{"log"}, LinkedFiles: []string{"config/secrets.yml"}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(st.DeployTo, "shared", "config"), 0o755)
	os.WriteFile(filepath.Join(st.DeployTo, "shared", "config", "secrets.yml"), []byte("s"), 0o600)
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	if out, err := localRun(t, d, st, Deploy, t0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	before := snapshot(t, st.DeployTo)
	for _, task := range []*Task{SymlinkRelease, Publishing, SymlinkShared, SymlinkLinkedFiles, SymlinkLinkedDirs, SetCurrentRevision, GitCreateRelease, LogRevision} {
		t.Run(task.Name(), func(t *testing.T) {
			out, err := localRun(t, d, st, task, t0.Add(time.Minute))
			if err == nil || !strings.Contains(err.Error(), "works on the release this run creates or rolls back to") {
				t.Fatalf("error = %v, want a refusal\n%s", err, out)
			}
			after := snapshot(t, st.DeployTo)
			delete(after, filepath.Join(st.DeployTo, "log")) // the run's own log file
			for p := range after {
				if strings.HasPrefix(p, filepath.Join(st.DeployTo, "log")+string(filepath.Separator)) {
					delete(after, p)
				}
			}
			sameTree(t, "deploy_to", before, after)
		})
	}
	if l := readLink(t, filepath.Join(st.DeployTo, "current")); filepath.Base(l) != "20261125214038" {
		t.Errorf("current -> %s", l)
	}
}

// Upload from a directory that is a symbolic link (dist ->
// build/linux-amd64) deploys the target's files; an empty directory is
// refused before anything changes. The symlink used to publish a release
// holding only REVISION and REVISION_TIME.
func TestUploadDirIsSymlinkOrEmpty(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	base := t.TempDir()
	build := filepath.Join(base, "build", "linux-amd64")
	os.MkdirAll(build, 0o755)
	os.WriteFile(filepath.Join(build, "shop"), []byte("binary"), 0o755)
	dist := filepath.Join(base, "dist")
	os.Symlink(filepath.Join("build", "linux-amd64"), dist)
	empty := filepath.Join(base, "empty")
	os.MkdirAll(empty, 0o755)

	d := isolate(t, Config{Application: "shop", Strategy: Upload{Dir: dist, Repo: repo}})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	st.RepoURL = ""
	t0 := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	if out, err := localRun(t, d, st, Deploy, t0); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	assertFile(t, filepath.Join(st.DeployTo, "current", "shop"), "binary")

	before := snapshot(t, st.DeployTo)
	d = isolate(t, Config{Application: "shop", Strategy: Upload{Dir: empty, Repo: repo}})
	out, err := localRun(t, d, st, Deploy, t0.Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "is empty: refusing to publish an empty release") {
		t.Fatalf("error = %v, want an empty release refused\n%s", err, out)
	}
	after := snapshot(t, st.DeployTo)
	for p := range after {
		if strings.HasPrefix(p, filepath.Join(st.DeployTo, "log")) {
			delete(after, p)
		}
	}
	sameTree(t, "deploy_to", before, after)
}

// Rollback from a current release whose name is not 14 digits (a
// hand-made releases/hotfix): current moves to the target, and hotfix is
// neither archived nor removed.
func TestRollbackKeepsAHandMadeRelease(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 5})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	if out, err := localRun(t, d, st, Deploy, t0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	hotfix := filepath.Join(st.DeployTo, "releases", "hotfix")
	os.MkdirAll(hotfix, 0o755)
	os.WriteFile(filepath.Join(hotfix, "REVISION"), []byte("abc\n"), 0o644)
	current := filepath.Join(st.DeployTo, "current")
	os.Remove(current)
	os.Symlink(hotfix, current)
	out, err := localRun(t, d, st, Rollback, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if l := readLink(t, current); filepath.Base(l) != "20261125214038" {
		t.Errorf("current -> %s, want 20261125214038", l)
	}
	if _, err := os.Stat(filepath.Join(hotfix, "REVISION")); err != nil {
		t.Errorf("the hand-made release was removed: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(st.DeployTo, "rolled-back-release-*")); len(m) != 0 {
		t.Errorf("archived %v", m)
	}
}

// Deploys less than a second apart, and a deploy from a machine whose
// clock is behind the previous deployer's: every release name is new and
// later than every release on the host, so nothing collides and rollback
// order holds. The second deploy used to fail with "release ... already
// exists" and run the deploy:failed hooks.
func TestReleaseNamesAreUniqueAndLater(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 5})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	failedHooks := 0
	AfterIn(d, Failed, func(context.Context) error { failedHooks++; return nil })
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	var names []string
	for _, at := range []time.Time{t0, t0, t0.Add(-time.Hour), t0.Add(time.Second)} {
		if out, err := localRun(t, d, st, Deploy, at); err != nil {
			t.Fatalf("deploy at %s: %v\n%s", at, err, out)
		}
		names = append(names, filepath.Base(readLink(t, filepath.Join(st.DeployTo, "current"))))
	}
	want := []string{"20261125214038", "20261125214039", "20261125214040", "20261125214041"}
	if !slices.Equal(names, want) {
		t.Errorf("release names %v, want %v", names, want)
	}
	if failedHooks != 0 {
		t.Errorf("deploy:failed ran %d times", failedHooks)
	}
}

// A run that fails while switching removes its switch directory with the
// lock.
func TestFailedSwitchLeavesNoScratch(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec, out, err := recorderRun(t, d, testStage("web1"), Deploy, append([]backend.Rule{
		{Match: "/srv/shop/.capstan/switch-run0001/current", Reply: backend.Reply{Status: 1}},
	}, gitRules...)...)
	if err == nil {
		t.Fatalf("deploy succeeded:\n%s", out)
	}
	log := rec.Log()
	last := log[len(log)-1].Command
	if !strings.Contains(last, "rm -rf -- /srv/shop/.capstan/lock /srv/shop/.capstan/lock.d-run0001 /srv/shop/.capstan/switch-run0001 ") {
		t.Errorf("the last command does not remove the switch directory with the lock: %s", last)
	}
}

// SIGTERM while deploy:cleanup removes old releases: the removal is
// finished by the cleanup after the interrupt, so no old release is left
// marked for removal and half gone (rollback would then find the hosts
// disagreeing on its target).
func TestInterruptedCleanupRemovalIsFinished(t *testing.T) {
	d := isolate(t, testConfig())
	listing := backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n"}}
	removal := "rm -rf /srv/shop/releases/20261120000000"
	rec, out, err := hookedRunIO(t, d, testStage("web1"), Deploy, sigtermDuring(removal), append([]backend.Rule{listing}, gitRules...)...)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 {
		t.Fatalf("error = %v, want SIGTERM's 143\n%s", err, out)
	}
	finished := false
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, removal) {
			finished = true
		}
	}
	if !finished {
		t.Errorf("the cut-short removal was not finished after the interrupt:\n%s", transcript(rec))
	}
}

// TestInterruptedRollbackArchiveIsFinished: a signal while
// deploy:cleanup_rollback removes the release rolled away from leaves that
// release marked unfinished; deploy:failed then finishes its removal, as it
// does for deploy:cleanup's.
func TestInterruptedRollbackArchiveIsFinished(t *testing.T) {
	d := isolate(t, testConfig())
	listing := backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n/srv/shop/releases/20261125214038/REVISION\n/srv/shop/releases/20261125214042/REVISION\n"}}
	archive := "rolled-back-release-20261125214042.tar.gz"
	removal := "rm -rf /srv/shop/releases/20261125214042"
	rec, out, err := hookedRunIO(t, d, testStage("web1"), Rollback, sigtermDuring(archive), append([]backend.Rule{listing}, gitRules...)...)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 {
		t.Fatalf("error = %v, want SIGTERM's 143\n%s", err, out)
	}
	finished := false
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, removal) && !strings.Contains(c.Command, archive) {
			finished = true
		}
	}
	if !finished {
		t.Errorf("the cut-short removal of the rolled-back release was not finished after the interrupt:\n%s", transcript(rec))
	}
}

// sigtermDuring is a recorder hook that delivers SIGTERM while the first
// command containing match runs, and ends that command only when the run's
// context does, as a remote command killed half-way.
func sigtermDuring(match string) func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
	var mu sync.Mutex
	interrupted := false
	return func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
		mu.Lock()
		first := strings.Contains(cmd, match) && !interrupted
		if first {
			interrupted = true
		}
		mu.Unlock()
		if !first {
			return false, nil
		}
		deliverSignal(syscall.SIGTERM)
		<-ctx.Done()
		return true, ctx.Err()
	}
}
