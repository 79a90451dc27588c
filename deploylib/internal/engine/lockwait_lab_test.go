//go:build unix

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// lockLab is a lab whose hosts each have an empty deploy_to of their own
// (dir, under every host's root), owned by the login user.
type lockLab struct {
	l        *lab.Lab
	dir      string
	deployTo string
}

func newLockLab(t *testing.T, hosts int, dir string) *lockLab {
	t.Helper()
	l := lab.Start(t, lab.Options{Hosts: hosts})
	l.RequireSharedDeployTo(t)
	ll := &lockLab{l: l, dir: dir, deployTo: path.Join(path.Dir(l.Hosts[0].DeployTo), dir)}
	for _, h := range l.Hosts {
		if err := os.MkdirAll(filepath.Join(h.Root, dir, ".capstan"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, l, filepath.Join(h.Root, dir))
	}
	t.Setenv("USER", "alice")
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	return ll
}

// byName returns the lab's hosts in the order the lock takes them: by
// their stage name.
func (ll *lockLab) byName() []*lab.Host {
	hosts := slices.Clone(ll.l.Hosts)
	name := func(h *lab.Host) string { return ll.l.User + "@" + h.Addr }
	slices.SortFunc(hosts, func(a, b *lab.Host) int { return strings.Compare(name(a), name(b)) })
	return hosts
}

// plant makes another run's lock on h, taken at lockedAt by the server's
// clock (the lab hosts share this machine's), as that run would have.
func (ll *lockLab) plant(t *testing.T, h *lab.Host, lockedAt time.Time) (link string) {
	t.Helper()
	state := filepath.Join(h.Root, ll.dir, ".capstan")
	data := filepath.Join(state, "lock.d-other1")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	details := fmt.Sprintf("capstan_lock=2\nrun_id=other1\nuser=bob\nlocal_host=elsewhere\npid=4242\nstage=lab\ntask=deploy\nbranch=main\nstarted=%s\nlocked_at=%s\n",
		lockedAt.UTC().Format(time.RFC3339), lockedAt.UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(data, "details"), []byte(details), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "heartbeat"), fmt.Appendf(nil, "heartbeat=%d\n", lockedAt.Unix()), 0o644); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(state, "lock")
	if err := os.Symlink("lock.d-other1", link); err != nil {
		t.Fatal(err)
	}
	return link
}

// deploy runs a deploy of the lab's repository, hooks added by hook, its
// console going to out as well.
func (ll *lockLab) deploy(out *lockedOutput, hook func(d *Deployment)) error {
	d := NewDeployment()
	d.Configure(Config{Application: "app", RepoURL: ll.l.Repo, DeployTo: ll.deployTo})
	if hook != nil {
		hook(d)
	}
	return d.Start(context.Background(), Deploy, WithStage(labStage(ll.l)), WithOutput(out), WithColor(false), WithLogFile(""))
}

// lockedOutput is a console output that calls on, once, when a line holds
// want.
type lockedOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	on   func()
	done bool
}

func (o *lockedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.on != nil && !o.done && strings.Contains(o.buf.String(), o.want) {
		o.done = true
		o.on()
	}
	return len(p), nil
}

func (o *lockedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestContenderLetsGoOfTheLock: every host is sent the checks and the
// lock at once, so two runs started together may each take some hosts'.
// The run that took the first host's lock waits for the other, which
// lost there, to let go of its own, and proceeds: here another run's lock
// taken just now on the second host is released once this run says it
// waits, and the deploy succeeds on both hosts.
func TestContenderLetsGoOfTheLock(t *testing.T) {
	ll := newLockLab(t, 2, "lockwait")
	second := ll.byName()[1]
	link := ll.plant(t, second, time.Now())
	out := &lockedOutput{want: "waiting up to 15s for the run that started with this one", on: func() {
		os.Remove(link)
		os.RemoveAll(filepath.Join(filepath.Dir(link), "lock.d-other1"))
	}}
	if err := ll.deploy(out, nil); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "deploy lock to let go of this one: bob@elsewhere (pid 4242, run other1)") {
		t.Errorf("the run did not say whose lock it waited for:\n%s", out)
	}
	for _, h := range ll.l.Hosts {
		if _, err := os.Readlink(filepath.Join(h.Root, ll.dir, "current")); err != nil {
			t.Errorf("%s: not deployed: %v", h.Addr, err)
		}
		if _, err := os.Lstat(filepath.Join(h.Root, ll.dir, ".capstan", "lock")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a lock is left: %v", h.Addr, err)
		}
	}
}

// TestOlderLockIsNotWaitedFor: a lock that another run took before this
// one started is not a contender's: the run stops at once, naming the
// host and the holder, and releases the first host's lock; nothing is
// deployed anywhere.
func TestOlderLockIsNotWaitedFor(t *testing.T) {
	ll := newLockLab(t, 2, "lockold")
	second := ll.byName()[1]
	ll.plant(t, second, time.Now().Add(-time.Hour))
	out := &lockedOutput{}
	start := time.Now()
	err := ll.deploy(out, nil)
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(le.Host, second.Addr) || le.Holder.RunID != "other1" {
		t.Fatalf("deploy: %v, want the lock held on %s by other1\n%s", err, second.Addr, out)
	}
	if strings.Contains(out.String(), "waiting up to") || time.Since(start) > lockContenderWait {
		t.Errorf("the run waited for a lock older than itself:\n%s", out)
	}
	for _, h := range ll.l.Hosts {
		if _, err := os.Lstat(filepath.Join(h.Root, ll.dir, "current")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: current exists: %v", h.Addr, err)
		}
		if ents, _ := os.ReadDir(filepath.Join(h.Root, ll.dir, "releases")); len(ents) != 0 {
			t.Errorf("%s: releases were made: %v", h.Addr, ents)
		}
	}
	for _, h := range ll.l.Hosts {
		if ents, _ := os.ReadDir(filepath.Join(h.Root, ll.dir, ".capstan", "unfinished")); len(ents) != 0 {
			t.Errorf("%s: unfinished markers were left: %v", h.Addr, ents)
		}
	}
	first := ll.byName()[0]
	if _, err := os.Lstat(filepath.Join(first.Root, ll.dir, ".capstan", "lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: the first host's lock was not released: %v", first.Addr, err)
	}
	if got, err := os.Readlink(filepath.Join(second.Root, ll.dir, ".capstan", "lock")); err != nil || got != "lock.d-other1" {
		t.Errorf("%s: the other run's lock is %q, %v; want it untouched", second.Addr, got, err)
	}
}

// TestHeldLockStopsTheHookOnLab: a declarative hook hung after
// deploy:check travels in the script that takes the lock; where another
// run holds the lock, the script stops there and the hook does not run.
func TestHeldLockStopsTheHookOnLab(t *testing.T) {
	ll := newLockLab(t, 1, "lockhook")
	h := ll.l.Hosts[0]
	ll.plant(t, h, time.Now().Add(-time.Hour))
	out := &lockedOutput{}
	err := ll.deploy(out, func(d *Deployment) {
		AfterIn(d, Check, d.RemoteTask("app:touch", "Touches.", All(), InDir(ll.deployTo), "touch", "hook-ran"))
	})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("deploy: %v, want the lock held\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(h.Root, ll.dir, "hook-ran")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hook after deploy:check ran where another run holds the lock (%v)", err)
	}
}

// TestRefusedRunRunsNoHookOnLab: on a stage of several hosts, declarative
// hooks after the lock (after deploy:check, after deploy:updated) travel
// in the script that takes the lock and builds the release, after the
// run's go-ahead. A run refused on either host (an older run's lock) must
// not have run a team's command anywhere: not where it took the lock, nor
// where it built the release; the releases it built are removed.
func TestRefusedRunRunsNoHookOnLab(t *testing.T) {
	for _, held := range []int{0, 1} {
		t.Run(fmt.Sprintf("held on host %d of 2", held+1), func(t *testing.T) {
			ll := newLockLab(t, 2, fmt.Sprintf("lockhook%d", held))
			holder := ll.byName()[held]
			ll.plant(t, holder, time.Now().Add(-time.Hour))
			out := &lockedOutput{}
			err := ll.deploy(out, func(d *Deployment) {
				AfterIn(d, Check, d.RemoteTask("app:touch", "Touches.", All(), InDir(ll.deployTo), "touch", "hook-ran"))
				AfterIn(d, Updated, d.RemoteTask("app:migrate", "Migrates.", All(), InDir(ll.deployTo), "touch", "migrated"))
			})
			var le *LockedError
			if !errors.As(err, &le) || !strings.Contains(le.Host, holder.Addr) {
				t.Fatalf("deploy: %v, want the lock held on %s\n%s", err, holder.Addr, out)
			}
			for _, h := range ll.l.Hosts {
				for _, f := range []string{"hook-ran", "migrated"} {
					if _, err := os.Lstat(filepath.Join(h.Root, ll.dir, f)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s: a hook after the lock ran for a run the lock refused (%s: %v)", h.Addr, f, err)
					}
				}
				if ents, _ := os.ReadDir(filepath.Join(h.Root, ll.dir, "releases")); len(ents) != 0 {
					t.Errorf("%s: the refused run's release is left: %v", h.Addr, ents)
				}
			}
		})
	}
}

// TestContenderWaitedOutRunsTheHookOnceOnLab: when the run that took the
// first host's lock waits out a contender's lock on another host, the
// hooks after the lock get no go-ahead in the lock's script (the run did
// not hold every lock at its first try): every host's script stops before
// them, and they run in the next script, once on each host.
func TestContenderWaitedOutRunsTheHookOnceOnLab(t *testing.T) {
	ll := newLockLab(t, 2, "lockwaithook")
	second := ll.byName()[1]
	link := ll.plant(t, second, time.Now())
	out := &lockedOutput{want: "waiting up to 15s for the run that started with this one", on: func() {
		os.Remove(link)
		os.RemoveAll(filepath.Join(filepath.Dir(link), "lock.d-other1"))
	}}
	err := ll.deploy(out, func(d *Deployment) {
		AfterIn(d, Updated, d.RemoteSh("app:migrate", "Migrates.", All(), InDir(ll.deployTo), "echo ran >> migrated"))
	})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, h := range ll.l.Hosts {
		if got, err := os.ReadFile(filepath.Join(h.Root, ll.dir, "migrated")); err != nil || string(got) != "ran\n" {
			t.Errorf("%s: app:migrate ran %q (%v), want once", h.Addr, got, err)
		}
		if _, err := os.Readlink(filepath.Join(h.Root, ll.dir, "current")); err != nil {
			t.Errorf("%s: not deployed: %v", h.Addr, err)
		}
	}
	if n := strings.Count(out.String(), "app:migrate"); n == 0 {
		t.Errorf("app:migrate was not reported:\n%s", out)
	}
}

// TestReleaseNamedAfterAFutureReleaseOnLab: the script that takes the lock
// names the release from this machine's clock; a host holding a release
// named later (a deployer whose clock was ahead) refuses the name there.
// The release built under it on the other host is removed, and the release
// is named one second after the later one and built on both hosts.
func TestReleaseNamedAfterAFutureReleaseOnLab(t *testing.T) {
	ll := newLockLab(t, 2, "futurename")
	second := ll.byName()[1]
	future := remote.ReleaseNameAt(time.Now().Add(time.Hour))
	if err := os.MkdirAll(filepath.Join(second.Root, ll.dir, "releases", future), 0o755); err != nil {
		t.Fatal(err)
	}
	chownTree(t, ll.l, filepath.Join(second.Root, ll.dir))
	out := &lockedOutput{}
	if err := ll.deploy(out, nil); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	want := remote.ReleaseNameAfter(future)
	if !strings.Contains(out.String(), "the new release is named "+want+" instead") {
		t.Errorf("the run did not say why the release is named %s:\n%s", want, out)
	}
	for _, h := range ll.l.Hosts {
		target, err := os.Readlink(filepath.Join(h.Root, ll.dir, "current"))
		if err != nil || path.Base(target) != want {
			t.Errorf("%s: current -> %q (%v), want release %s", h.Addr, target, err, want)
		}
		ents, _ := os.ReadDir(filepath.Join(h.Root, ll.dir, "releases"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		wantNames := []string{want}
		if h == second {
			wantNames = []string{future, want}
		}
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: releases %v, want %v (the release named from the clock removed)", h.Addr, names, wantNames)
		}
		if ents, _ := os.ReadDir(filepath.Join(h.Root, ll.dir, ".capstan", "unfinished")); len(ents) != 0 {
			t.Errorf("%s: unfinished markers were left: %v", h.Addr, ents)
		}
	}
}
