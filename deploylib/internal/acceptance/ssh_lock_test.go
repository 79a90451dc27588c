//go:build unix

package acceptance_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// labOwner returns the uid and gid of the lab's login user.
func labOwner(t *testing.T, l *lab.Lab) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(l.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// mkOwned makes directory p (and its parents below root) and writes the
// files, all owned by uid:gid.
func mkOwned(t *testing.T, root, p string, uid, gid int, files map[string]string) {
	t.Helper()
	rel, _ := filepath.Rel(root, p)
	dir := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		dir = filepath.Join(dir, part)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(dir, uid, gid)
	}
	for name, body := range files {
		f := filepath.Join(p, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(f, uid, gid)
	}
}

// A lock whose details say run_id=x/../../shared on a real server: without
// FORCE deploy:unlock refuses, naming the host and the value, and removes
// nothing; with FORCE=1 it removes the lock link alone. shared/ stays.
func TestSSHUnlockRefusesHostileRunID(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	uid, gid := labOwner(t, l)
	h := l.Hosts[0]
	state := filepath.Join(h.Root, "app", ".capstan")
	stale := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	mkOwned(t, h.Root, filepath.Join(state, "lock.d-evil"), uid, gid, map[string]string{
		"details":   "capstan_lock=2\nrun_id=x/../../shared\nuser=eve\nlocal_host=elsewhere\npid=1\n",
		"heartbeat": "heartbeat=" + stale + "\n",
	})
	if err := os.Symlink("lock.d-evil", filepath.Join(state, "lock")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(state, "lock"), uid, gid)
	secrets := filepath.Join(h.Root, "app", "shared", "config", "secrets.yml")

	t.Setenv("FORCE", "")
	out, err := start(t, d, st, deploylib.Unlock, time.Now())
	want := l.User + "@" + h.Addr + `: the deploy lock's run_id is "x/../../shared", which is not a run id`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Nothing was removed") {
		t.Errorf("unlock error = %v, want it to say %q\n%s", err, want, out)
	}
	if _, err := os.Stat(secrets); err != nil {
		t.Fatalf("shared/ was removed: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(state, "lock")); err != nil {
		t.Errorf("the lock was removed without FORCE: %v", err)
	}

	t.Setenv("FORCE", "1")
	out, err = start(t, d, st, deploylib.Unlock, time.Now())
	if err != nil {
		t.Fatalf("FORCE=1 unlock: %v\n%s", err, out)
	}
	if _, err := os.Stat(secrets); err != nil {
		t.Fatalf("FORCE=1 unlock removed shared/: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(state, "lock")); !os.IsNotExist(err) {
		t.Errorf("FORCE=1 left the lock: %v\n%s", err, out)
	}
	if !strings.Contains(out, `WARN `+l.User+"@"+h.Addr+`: the deploy lock's run_id is "x/../../shared"`) {
		t.Errorf("FORCE=1 did not warn about the run_id:\n%s", out)
	}
}

// deploy:cleanup on a real server, as a user that may not remove a file
// inside an old release (a root-owned directory in it): rm -rf removes
// the rest and fails. The half-removed release keeps its unfinished
// marker, so no rollback ever targets it and the next cleanup tries again;
// the release removed whole loses its marker; the run fails, naming the
// host.
func TestSSHCleanupKeepsMarkerOfHalfRemovedRelease(t *testing.T) {
	lab.RequireRoot(t, "a file the login user may not remove")
	l := lab.Start(t, lab.Options{Hosts: 1})
	d := configure(t, l, func(c *deploylib.Config) { c.KeepReleases = 2 })
	prepareShared(t, l)
	st := sshStage(l)
	uid, gid := labOwner(t, l)
	h := l.Hosts[0]
	app := filepath.Join(h.Root, "app")
	names := []string{"20261125214030", "20261125214031", "20261125214032", "20261125214033"}
	for _, n := range names {
		mkOwned(t, h.Root, filepath.Join(app, "releases", n), uid, gid, map[string]string{"REVISION": "abc\n", "README": n})
	}
	if err := os.Symlink(filepath.Join(h.DeployTo, "releases", names[3]), filepath.Join(app, "current")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(app, "current"), uid, gid)
	// Root's, inside the oldest release: the login user cannot remove
	// the file in it.
	pinned := filepath.Join(app, "releases", names[0], "pinned")
	os.MkdirAll(pinned, 0o755)
	os.WriteFile(filepath.Join(pinned, "file"), []byte("root's\n"), 0o644)

	out, err := start(t, d, st, deploylib.Cleanup, time.Now())
	if err == nil || !strings.Contains(err.Error(), l.User+"@"+h.Addr) || !strings.Contains(out+err.Error(), "Permission denied") {
		t.Errorf("cleanup error = %v, want one naming the host and rm's reason\n%s", err, out)
	}
	marker := func(n string) string { return filepath.Join(app, ".capstan", "unfinished", n) }
	if _, err := os.Stat(marker(names[0])); err != nil {
		t.Errorf("the half-removed release %s lost its unfinished marker: %v\n%s", names[0], err, out)
	}
	if _, err := os.Stat(filepath.Join(app, "releases", names[0], "README")); !os.IsNotExist(err) {
		t.Errorf("rm -rf did not remove what it could of %s: %v", names[0], err)
	}
	for _, gone := range []string{filepath.Join(app, "releases", names[1]), marker(names[1])} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", gone, err)
		}
	}
	for _, kept := range names[2:] {
		if _, err := os.Stat(filepath.Join(app, "releases", kept, "REVISION")); err != nil {
			t.Errorf("release %s was removed: %v", kept, err)
		}
		if _, err := os.Stat(marker(kept)); !os.IsNotExist(err) {
			t.Errorf("release %s is marked unfinished: %v", kept, err)
		}
	}
}
