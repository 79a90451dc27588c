package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPinRevision(t *testing.T) {
	const (
		a = "1111111111111111111111111111111111111111"
		b = "2222222222222222222222222222222222222222"
		c = "3333333333333333333333333333333333333333"
		d = "4444444444444444444444444444444444444444"
	)
	tests := []struct {
		name, ls, branch string
		want             string
		ok               bool
	}{
		{"branch", a + "\trefs/heads/main\n", "main", a, true},
		{"tag before branch, as git resolves", a + "\trefs/heads/v1\n" + b + "\trefs/tags/v1\n", "v1", b, true},
		{"annotated tag pins its commit", b + "\trefs/tags/v1\n" + c + "\trefs/tags/v1^{}\n", "v1", c, true},
		{"refs/<name> first", a + "\trefs/heads/x\n" + d + "\trefs/x\n", "x", d, true},
		{"nested branch", a + "\trefs/heads/feature/main\n" + b + "\trefs/heads/main\n", "feature/main", a, true},
		{"only a longer ref matches", a + "\trefs/heads/feature/main\n", "main", "", false},
		{"remote tracking", a + "\trefs/remotes/origin/main\n", "origin/main", a, true},
		{"remote HEAD", a + "\trefs/remotes/origin/HEAD\n", "origin", a, true},
		{"full ref name", a + "\trefs/heads/main\n" + b + "\trefs/tags/main\n", "refs/heads/main", a, true},
		{"HEAD", a + "\tHEAD\n", "HEAD", a, true},
		{"a full commit id pins itself", a + "\tHEAD\n", c, c, true},
		{"pseudo-ref", a + "\tFETCH_HEAD\n", "FETCH_HEAD", "", false},
		{"nothing listed", "", "main", "", false},
		{"junk lines ignored", "warning: x\nnot-a-sha\trefs/heads/main\n" + a + "\trefs/heads/main\n", "main", a, true},
	}
	for _, tt := range tests {
		got, ok := PinRevision(tt.ls, tt.branch)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: PinRevision = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseLockTaken(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		want      LockTakenInfo
	}{
		{"older answer, no markers", "\n/srv/shop/releases/20261125214038\n", LockTakenInfo{Previous: "/srv/shop/releases/20261125214038"}},
		{"full", "\n/srv/shop/releases/20261125214038\n20261125214038\njunk\n20261120000000\n" + LockUnfinished + "\n20261121000000\nx\n",
			LockTakenInfo{Previous: "/srv/shop/releases/20261125214038", Releases: []string{"20261120000000", "20261125214038"},
				Unfinished: []string{"20261121000000"}, Listed: true}},
		{"nothing yet", "\n\n" + LockUnfinished + "\n", LockTakenInfo{Listed: true}},
	} {
		if got := ParseLockTaken(tt.out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestLockListingCleanup: cleanup computed from the lock's answer, once the
// new release is published, picks what a listing made after the switch
// would.
func TestLockListingCleanup(t *testing.T) {
	l := At("/srv/shop")
	info := ParseLockTaken("\nreleases/20261124000000\n20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n" +
		LockUnfinished + "\n20261122000000\n")
	li := l.LockListing(info)
	if li.Current != "20261124000000" {
		t.Fatalf("current %q", li.Current)
	}
	got := li.Published("20261125214042").CleanupCandidates(2, "20261125214042")
	want := []string{"20261120000000", "20261121000000", "20261122000000", "20261123000000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("victims %v, want %v", got, want)
	}
	// The same from ListReleases' answer after the switch.
	after, err := l.ParseListing("20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n20261125214042\n--capstan--\n20261122000000\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n")
	if err != nil {
		t.Fatal(err)
	}
	if fromListing := after.CleanupCandidates(2, "20261125214042"); !reflect.DeepEqual(fromListing, want) {
		t.Errorf("from the listing %v, want %v", fromListing, want)
	}
}

// TestTakeLockListsForCleanup runs the lock for real: its answer holds the
// releases and the unfinished markers.
func TestTakeLockListsForCleanup(t *testing.T) {
	l := At(filepath.Join(t.TempDir(), "app's"))
	for _, d := range []string{"releases/20261120000000", "releases/20261121000000", ".capstan/unfinished"} {
		os.MkdirAll(filepath.Join(l.DeployTo, d), 0o755)
	}
	os.WriteFile(l.UnfinishedMarker("20261121000000"), []byte("r\n"), 0o644)
	os.Symlink(l.Release("20261120000000"), l.Current())
	out, err := sh(t, l.TakeLock("r1", []string{"run_id=r1"}), "")
	i := strings.Index(out, LockTaken)
	if err != nil || i < 0 {
		t.Fatalf("%v %q", err, out)
	}
	got := ParseLockTaken(out[i+len(LockTaken):])
	want := LockTakenInfo{Previous: l.Release("20261120000000"), Releases: []string{"20261120000000", "20261121000000"},
		Unfinished: []string{"20261121000000"}, Listed: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestNotCurrent(t *testing.T) {
	l := At(t.TempDir())
	os.MkdirAll(l.Release("20261120000000"), 0o755)
	os.MkdirAll(l.Release("20261121000000"), 0o755)
	os.Symlink(l.Release("20261121000000"), l.Current())
	if _, err := sh(t, l.NotCurrent([]string{"20261120000000", "20261119000000"}), ""); err != nil {
		t.Errorf("old releases: %v", err)
	}
	out, err := sh(t, l.NotCurrent([]string{"20261120000000", "20261121000000"}), "")
	if err == nil || !strings.Contains(out, "current points at it") {
		t.Errorf("current among them: %v %q", err, out)
	}
}

// TestPinnedUpdate runs the git commands of the planned deploy against a
// real repository: the mirror reports where it is, fetches only when it
// lacks the pinned commit, and the release gets REVISION and
// REVISION_TIME from the mirror.
func TestPinnedUpdate(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required (go tool mage test installs it)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x",
			"GIT_COMMITTER_DATE=1795640000 +0000", "GIT_AUTHOR_DATE=1795640000 +0000")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	os.MkdirAll(src, 0o755)
	run(src, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(src, "f"), []byte("1"), 0o644)
	run(src, "add", "f")
	run(src, "commit", "-q", "-m", "one")
	first := run(src, "rev-parse", "HEAD")

	l := At(filepath.Join(dir, "deploy"))
	os.MkdirAll(l.DeployTo, 0o755)
	if out, err := sh(t, l.MirrorAt("main"), ""); err != nil || out != "" {
		t.Errorf("MirrorAt without a mirror: %v %q", err, out)
	}
	if out, err := sh(t, l.GitClone(src, 0), ""); err != nil {
		t.Fatalf("clone: %v %q", err, out)
	}
	if out, err := sh(t, l.MirrorAt("main"), ""); err != nil || out != MirrorAtPrefix+first+"\n" {
		t.Errorf("MirrorAt: %v %q", err, out)
	}

	os.WriteFile(filepath.Join(src, "f"), []byte("2"), 0o644)
	run(src, "commit", "-q", "-am", "two")
	second := run(src, "rev-parse", "HEAD")
	ls := run(src, "ls-remote", src, "main")
	pin, ok := PinRevision(ls, "main")
	if !ok || pin != second {
		t.Fatalf("pin %q %v, want %s", pin, ok, second)
	}
	// The mirror lacks the pinned commit: it fetches.
	out, err := sh(t, l.GitUpdatePinned(src, "main", pin, 0), "")
	if err != nil || !strings.HasSuffix(out, second+" 1795640000\n") {
		t.Fatalf("update: %v %q", err, out)
	}
	// It has it now: nothing is fetched, even from a repository that is gone.
	out, err = sh(t, l.GitUpdatePinned(filepath.Join(dir, "gone"), "main", pin, 0), "")
	if err != nil || out != second+" 1795640000\n" {
		t.Fatalf("update with the commit at hand: %v %q", err, out)
	}
	release := l.Release("20261125214042")
	os.MkdirAll(release, 0o755)
	if out, err := sh(t, l.WriteRevisionFromMirror(release, pin), ""); err != nil {
		t.Fatalf("%v %q", err, out)
	}
	for f, want := range map[string]string{"REVISION": second + "\n", "REVISION_TIME": "1795640000\n"} {
		if b, _ := os.ReadFile(filepath.Join(release, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
}
