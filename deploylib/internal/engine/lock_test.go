package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The lock's details name a fixed machine and process in this package's
// tests, so that transcripts do not depend on where they run.
func init() {
	lockIdentity = func() (string, int) { return "testhost", 4242 }
	lockMachine = func() string { return "" } // no machine= line
}

// sh runs c through /bin/sh with stdin and returns its output and error.
func sh(t *testing.T, c shell.Command, stdin string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := (&backend.Local{}).Run(context.Background(), c, backend.Stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out})
	return out.String(), err
}

func TestLockInfoString(t *testing.T) {
	li := parseLockInfo("run_id=ab12\nuser=bob\nlocal_host=laptop\npid=77\nstage=production\ntask=deploy\nbranch=main\nlocked_at=2026-11-25T21:40:42Z\nuser=mallory\nheartbeat=1795640000\nserver_now=1795640075\n")
	want := "bob@laptop (pid 77, run ab12), deploy of production, branch main, since 2026-11-25T21:40:42Z, last heartbeat 1m15s ago"
	if got := li.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := parseLockInfo("").String(); !strings.Contains(got, "unknown run") {
		t.Errorf("empty details: %q", got)
	}
	if got := cleanLockValue("a\nrun_id=x\x1b[2J"); strings.ContainsAny(got, "\n\x1b") {
		t.Errorf("cleanLockValue kept control characters: %q", got)
	}
}

// heldByBob answers the lock command as held by bob.
func heldByBob() backend.Rule {
	return backend.Rule{Match: "mkdir /srv/shop/.capstan/lock", Reply: backend.Reply{Stdout: remote.LockHeld + "\nrun_id=bob1\nuser=bob\nlocal_host=laptop\npid=77\nlocked_at=2026-11-25T21:00:00Z\nheartbeat=1795640000\nserver_now=1795642400\n"}}
}

func TestDeployRefusedByLockChangesNothing(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	AfterIn(d, Failed, tr.hook("failed"))
	rec := backend.NewRecorder("")
	held := heldByBob()
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web3", "web2", "web1")), WithOutput(&out), WithColor(false),
		WithClock(fixedClock(0)), func(o *runOptions) { o.runID = "run0001" }, WithLogFile(""),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			r := rec.ForHost(s.Host)
			if s.Host == "web2" {
				r.Rules = append([]backend.Rule{held}, gitRules...)
			} else {
				r.Rules = gitRules
			}
			return r, nil
		}))
	var le *LockedError
	if !errors.As(err, &le) || le.Host != "web2" || le.Holder.User != "bob" {
		t.Fatalf("error = %v, want a LockedError for web2 held by bob", err)
	}
	for _, want := range []string{"web2", "bob@laptop (pid 77, run bob1)", "since 2026-11-25T21:00:00Z", "no heartbeat for 40m0s", "mage test deploy:unlock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(tr.steps) != 0 {
		t.Errorf("deploy:failed hooks ran for a run refused by the lock: %v", tr.steps)
	}
	// Every host is sent the lock, and the release in the same script, at
	// once; web1, first by name, decides, and web2's lock, held by a run
	// older than this one, is not waited for. The release built where
	// this run took the lock is removed, then the lock is released;
	// nothing else runs.
	var lockOrder []string
	released, removed := map[string]bool{}, map[string]bool{}
	for _, c := range rec.Log() {
		switch {
		case strings.Contains(c.Command, "mkdir /srv/shop/.capstan/lock"):
			lockOrder = append(lockOrder, c.Host)
			if !strings.Contains(c.Command, "run_id=run0001 user=alice local_host=testhost pid=4242 stage=test task=deploy branch=main started=2026-11-25T21:40:42Z") {
				t.Errorf("%s: lock command = %s", c.Host, c.Command)
			}
		case strings.Contains(c.Command, remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String()+" && rm -rf /srv/shop/releases/20261125214042"):
			removed[c.Host] = true
			if released[c.Host] {
				t.Errorf("%s: the release was removed after the lock was released", c.Host)
			}
		case strings.Contains(c.Command, "rm -rf -- /srv/shop/.capstan/lock"):
			released[c.Host] = true
		default:
			t.Errorf("%s: a refused run ran %s", c.Host, c.Command)
		}
	}
	if !removed["web1"] || !removed["web3"] || removed["web2"] {
		t.Errorf("the release was removed on %v, want web1 and web3, never web2", removed)
	}
	if slices.Sort(lockOrder); !slices.Equal(lockOrder, []string{"web1", "web2", "web3"}) {
		t.Errorf("the lock was sent to %v, want every host once", lockOrder)
	}
	if !released["web1"] || !released["web3"] || released["web2"] {
		t.Errorf("released on %v, want web1 and web3, never web2", released)
	}
}

func TestLockReleasedAfterFailure(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec, _, err := recorderRun(t, d, testStage("web1"), Deploy, append([]backend.Rule{
		{Match: "ln -s /srv/shop/shared/log", Reply: backend.Reply{Status: 3}},
	}, gitRules...)...)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	log := rec.Log()
	last := log[len(log)-1].Command
	if !strings.Contains(last, "= run_id=run0001 && exit 0") || !strings.Contains(last, "rm -rf -- /srv/shop/.capstan/lock") {
		t.Errorf("the last command is not the lock release: %s", last)
	}
	var failedAt, releaseAt int
	for i, c := range log {
		if strings.Contains(c.Command, "= run0001 && exit 0") {
			failedAt = i
		}
		if strings.Contains(c.Command, "rm -rf -- /srv/shop/.capstan/lock") {
			releaseAt = i
		}
	}
	if failedAt == 0 || releaseAt < failedAt {
		t.Errorf("the lock was released (%d) before the half-built release was removed (%d)", releaseAt, failedAt)
	}
}

func TestStandaloneTasksTakeTheLock(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	r := &Run{Config: testConfig().withDefaults(Stage{}), setup: d.snapshot()}
	for task, want := range map[*Task]bool{
		Cleanup: true, SymlinkRelease: true, GitCreateRelease: true, LogRevision: true, Published: true,
		Deploy: false, Rollback: false, Check: false, Starting: false, // they reach deploy:lock themselves
		GitCheck: false, Unlock: false, Lock: false,
		d.NewTask("team:notify", "", nil): false,
	} {
		if got := r.setup.needsLock(r.Config, task); got != want {
			t.Errorf("needsLock(%s) = %v, want %v", task.Name(), got, want)
		}
	}
	rec, out, err := recorderRun(t, d, testStage("web1"), Cleanup, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	log := rec.Log()
	if !strings.Contains(log[0].Command, "mkdir /srv/shop/.capstan/lock") || !strings.Contains(log[len(log)-1].Command, "rm -rf -- /srv/shop/.capstan/lock") {
		t.Errorf("deploy:cleanup on its own did not hold the lock:\n%s", transcript(rec))
	}
}

// deploy:unlock on a local deploy directory: it removes a stale lock,
// saying whose it was, and refuses one whose holder may be alive (a recent
// heartbeat, no details) unless FORCE=1.
func TestUnlock(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name      string
		heartbeat string // "" for a fresh one, "-" for a lock with no details
		force     bool
		removed   bool
		want      string
	}{
		{"stale", stale, false, true, "removed the deploy lock held by bob@laptop (pid 77, run bob1), deploy of production, since "},
		{"fresh", "", false, false, "may be alive: its holder showed a heartbeat "},
		{"fresh, forced", "", true, true, "removed the deploy lock held by bob@laptop"},
		{"no details", "-", false, false, "has no readable details"},
		{"no details, forced", "-", true, true, "removed the deploy lock held by an unknown run"},
		{"no lock", "none", false, false, "no deploy lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(remote.At(st.DeployTo).LockDir())
			switch tc.heartbeat {
			case "none":
			case "-":
				os.MkdirAll(remote.At(st.DeployTo).LockDir(), 0o755)
			default:
				if out, err := sh(t, remote.At(st.DeployTo).TakeLock("bob1", []string{"run_id=bob1", "user=bob", "local_host=laptop", "pid=77", "stage=production", "task=deploy"}), ""); err != nil {
					t.Fatalf("%v %s", err, out)
				}
				if tc.heartbeat != "" {
					os.WriteFile(remote.At(st.DeployTo).LockHeartbeat(), []byte("heartbeat="+tc.heartbeat+"\n"), 0o644)
				}
			}
			setenv(d, "FORCE", map[bool]string{true: "1", false: ""}[tc.force])
			out, err := localRun(t, d, st, Unlock, time.Now())
			_, statErr := os.Stat(remote.At(st.DeployTo).LockDir())
			if gone := os.IsNotExist(statErr); gone != (tc.removed || tc.heartbeat == "none") {
				t.Errorf("lock gone = %v\n%s", gone, out)
			}
			if (err == nil) != (tc.removed || tc.heartbeat == "none") {
				t.Errorf("error = %v", err)
			}
			if all := out + fmt.Sprint(err); !strings.Contains(all, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, all)
			}
			if err != nil && !strings.Contains(err.Error(), "FORCE=1 mage local deploy:unlock") {
				t.Errorf("a refusal does not say how to force: %v", err)
			}
			if ents, _ := os.ReadDir(remote.At(st.DeployTo).State()); tc.removed && len(ents) > 1 {
				t.Errorf("unlock left %v in the state directory", ents)
			}
		})
	}
}

// A run that lasts refreshes its lock's heartbeat, so deploy:unlock keeps
// refusing it.
func TestLockHeartbeat(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	beats := make(chan struct{})
	var seen string
	AfterIn(d, Updated, func(ctx context.Context) error {
		hb := remote.At(st.DeployTo).LockHeartbeat()
		if err := os.WriteFile(hb, []byte("heartbeat=1\n"), 0o644); err != nil {
			return err
		}
		<-beats // the round under way may have begun before the write
		<-beats // this one began after it
		b, err := os.ReadFile(hb)
		seen = string(b)
		return err
	})
	var out bytes.Buffer
	err = d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false), func(o *runOptions) {
		o.heartbeatEvery, o.heartbeats = time.Millisecond, beats
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if seen == "heartbeat=1\n" || !strings.HasPrefix(seen, "heartbeat=") {
		t.Errorf("the heartbeat was not refreshed during the run: %q", seen)
	}
	if _, err := os.Stat(remote.At(st.DeployTo).LockDir()); !os.IsNotExist(err) {
		t.Errorf("lock left after the run: %v", err)
	}
}

// Two deploys of one local repository started at the same instant:
// exactly one takes the lock; the other is refused and leaves nothing. The
// winner holds the lock until the loser has returned, so the outcome does
// not depend on how fast either runs.
func TestLocalConcurrentDeploys(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	var loserDone chan struct{}
	AfterIn(d, Lock, func(context.Context) error {
		select {
		case <-loserDone:
			return nil
		case <-time.After(time.Minute):
			return errors.New("the other deploy never returned: both took the lock?")
		}
	})
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	for round := range 3 {
		at := t0.Add(time.Duration(round) * 2 * time.Second)
		loserDone = make(chan struct{})
		start := make(chan struct{})
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				<-start
				_, err := localRun(t, d, st, Deploy, at)
				errs <- err
			}()
		}
		close(start)
		var le *LockedError
		if err := <-errs; !errors.As(err, &le) {
			t.Fatalf("round %d: the first run to return was not refused by the lock: %v", round, err)
		}
		close(loserDone)
		if err := <-errs; err != nil {
			t.Fatalf("round %d: the run holding the lock failed: %v", round, err)
		}
		if _, err := os.Stat(remote.At(st.DeployTo).LockDir()); !os.IsNotExist(err) {
			t.Errorf("round %d: lock left: %v", round, err)
		}
		if got := readLink(t, filepath.Join(st.DeployTo, "current")); filepath.Base(got) != remote.ReleaseNameAt(at) {
			t.Errorf("round %d: current -> %s", round, got)
		}
	}
}

// The reply to the lock command is lost on web2 (the connection drops
// after the server took the lock): the run fails, and still releases the
// lock there, guarded by its run id.
func TestLockReleasedWhereTheReplyWasLost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec, out, err := hookedRunIO(t, d, testStage("web1", "web2"), Deploy, func(ctx context.Context, host, cmd string, stdio backend.Stdio) (bool, error) {
		if host == "web2" && strings.Contains(cmd, "mkdir /srv/shop/.capstan/lock.d-") {
			return true, errors.New("connection lost")
		}
		return false, nil
	}, gitRules...)
	if err == nil {
		t.Fatalf("deploy succeeded:\n%s", out)
	}
	released := map[string]bool{}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "= run_id=run0001 && exit 0") && strings.Contains(c.Command, "rm -rf -- /srv/shop/.capstan/lock /srv/shop/.capstan/lock.d-run0001") {
			released[c.Host] = true
		}
	}
	if !released["web1"] || !released["web2"] {
		t.Errorf("lock released on %v, want web1 and web2 (whose reply was lost)\n%s", released, transcript(rec))
	}
}

// A deploy:failed hook that outlasts the cleanup budget does not keep the
// lock from being released: the release has a budget of its own.
func TestLockReleasedAfterASlowFailedHook(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	AfterIn(d, Updated, func(context.Context) error { return errors.New("migration failed") })
	AfterIn(d, Failed, func(ctx context.Context) error {
		<-ctx.Done() // the whole cleanup budget
		return ctx.Err()
	})
	rec := backend.NewRecorder("", gitRules...)
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web1")), WithOutput(&out), WithColor(false),
		WithClock(fixedClock(0)), WithLogFile(""), func(o *runOptions) { o.runID, o.cleanupTimeout = "run0001", 50*time.Millisecond },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
	if err == nil || !strings.Contains(err.Error(), "migration failed") {
		t.Fatalf("error = %v", err)
	}
	log := rec.Log()
	if last := log[len(log)-1].Command; !strings.Contains(last, "rm -rf -- /srv/shop/.capstan/lock /srv/shop/.capstan/lock.d-run0001") {
		t.Errorf("the lock was not released after the slow hook; last command: %s\n%s", last, out.String())
	}
}

// A deploy whose lock cannot be released on a host (the host was lost
// after publishing) exits non-zero, saying that the release is live and
// the lock stays: the next deploy would be refused.
func TestUnreleasedLockFailsTheRun(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	_, out, err := hookedRunIO(t, d, testStage("web1", "web2"), Deploy, func(ctx context.Context, host, cmd string, stdio backend.Stdio) (bool, error) {
		if host == "web2" && strings.Contains(cmd, "rm -rf -- /srv/shop/.capstan/lock /srv/shop/.capstan/lock.d-run0001") {
			return true, errors.New("connection lost")
		}
		return false, nil
	}, gitRules...)
	if err == nil || !strings.Contains(err.Error(), "deploy finished, but the deploy lock could not be released") || !strings.Contains(err.Error(), "web2") {
		t.Fatalf("error = %v\n%s", err, out)
	}
}

// fakeMachine answers machineIdentity's reads as a Linux machine with
// this machine id, boot id and PID namespace.
func fakeMachine(id, boot, ns string) string {
	files := map[string]string{"/etc/machine-id": id, "/proc/sys/kernel/random/boot_id": boot}
	return machineIdentity(func(p string) ([]byte, error) {
		if v, ok := files[p]; ok && v != "" {
			return []byte(v + "\n"), nil
		}
		return nil, os.ErrNotExist
	}, func(string) (string, error) {
		if ns == "" {
			return "", os.ErrNotExist
		}
		return ns, nil
	})
}

func TestMachineIdentity(t *testing.T) {
	base := fakeMachine("3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026531836]")
	if !machineGrammar.MatchString(base) {
		t.Fatalf("machineIdentity = %q, not 32 hex digits", base)
	}
	if strings.Contains(base, "3d1219c7") {
		t.Errorf("machineIdentity leaks the machine id: %q", base)
	}
	for _, tc := range []struct {
		name, id, boot, ns string
		want               string // "same", "other" or "none"
	}{
		{"same", "3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026531836]", "same"},
		{"other machine", "99999999c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026531836]", "other"},
		{"other boot", "3d1219c7c4c5404aaa1f6d2a48adfda4", "00000000-0000", "pid:[4026531836]", "other"},
		{"other PID namespace", "3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026532001]", "other"},
		{"no machine id", "", "c7b37b83-e432", "pid:[4026531836]", "none"},
		{"no boot id", "3d1219c7c4c5404aaa1f6d2a48adfda4", "", "pid:[4026531836]", "none"},
		{"no /proc", "3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "", "none"},
		{"not a PID namespace", "3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "net:[4026531836]", "none"},
	} {
		got := fakeMachine(tc.id, tc.boot, tc.ns)
		switch {
		case tc.want == "same" && got != base, tc.want == "other" && (got == base || got == ""), tc.want == "none" && got != "":
			t.Errorf("%s: machineIdentity = %q (base %q), want %s", tc.name, got, base, tc.want)
		}
	}
	// The fallback for systems without /etc/machine-id.
	if got := machineIdentity(func(p string) ([]byte, error) {
		switch p {
		case "/var/lib/dbus/machine-id":
			return []byte("3d1219c7c4c5404aaa1f6d2a48adfda4\n"), nil
		case "/proc/sys/kernel/random/boot_id":
			return []byte("c7b37b83-e432\n"), nil
		}
		return nil, os.ErrNotExist
	}, func(string) (string, error) { return "pid:[4026531836]", nil }); got != base {
		t.Errorf("with /var/lib/dbus/machine-id only: %q, want %q", got, base)
	}
}

// deploy:unlock trusts "the holder's process is gone" only for a holder in
// this very process space (machine id, boot and PID namespace), never by
// host name, and never over a fresh heartbeat. Not parallel: it sets
// lockMachine.
func TestUnlockTrustsOnlyThisMachinesPIDs(t *testing.T) {
	here := fakeMachine("3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026531836]")
	otherMachine := fakeMachine("0123456789abcdef0123456789abcdef", "c7b37b83-e432", "pid:[4026531836]")
	otherNS := fakeMachine("3d1219c7c4c5404aaa1f6d2a48adfda4", "c7b37b83-e432", "pid:[4026532001]")
	saved := lockMachine
	lockMachine = func() string { return here }
	t.Cleanup(func() { lockMachine = saved })

	dead := exec.Command(os.Args[0], "-test.run=^$") // this test binary, running no test
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	if processAlive(dead.Process.Pid) {
		t.Fatalf("pid %s of an exited child still exists", deadPID)
	}
	livePID := strconv.Itoa(os.Getpid())
	hostname, _ := os.Hostname()

	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name      string
		machine   string // "" for a lock of an older Capstan
		pid       string
		heartbeat string // "" for a fresh one
		removed   bool
		want      string
	}{
		{"same host name, other machine, fresh", otherMachine, deadPID, "", false, "its holder showed a heartbeat"},
		{"same machine id, other PID namespace, fresh", otherNS, deadPID, "", false, "its holder showed a heartbeat"},
		{"same host name, older lock without machine, fresh", "", deadPID, "", false, "its holder showed a heartbeat"},
		{"this machine, process gone, fresh heartbeat", here, deadPID, "", false, "is gone, but its holder showed a heartbeat"},
		{"this machine, process running, stale", here, livePID, stale, false, "process " + livePID + " on this machine, which took it, is still running"},
		{"this machine, process gone, stale", here, deadPID, stale, true, "removed the deploy lock held by bob@" + hostname},
		{"other machine, stale", otherMachine, livePID, stale, true, "removed the deploy lock held by bob@" + hostname},
		{"same machine id, other PID namespace, stale", otherNS, livePID, stale, true, "removed the deploy lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := remote.At(st.DeployTo)
			os.RemoveAll(l.State())
			details := []string{"run_id=bob1", "user=bob", "local_host=" + hostname, "pid=" + tc.pid, "stage=production", "task=deploy"}
			if tc.machine != "" {
				details = append(details, "machine="+tc.machine)
			}
			if out, err := sh(t, l.TakeLock("bob1", details), ""); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if tc.heartbeat != "" {
				os.WriteFile(l.LockHeartbeat(), []byte("heartbeat="+tc.heartbeat+"\n"), 0o644)
			}
			setenv(d, "FORCE", "")
			out, err := localRun(t, d, st, Unlock, time.Now())
			_, statErr := os.Stat(l.LockDir())
			if gone := os.IsNotExist(statErr); gone != tc.removed {
				t.Errorf("lock gone = %v, want %v\n%s%v", gone, tc.removed, out, err)
			}
			if (err == nil) != tc.removed {
				t.Errorf("error = %v", err)
			}
			if all := out + fmt.Sprint(err); !strings.Contains(all, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, all)
			}
		})
	}
}

// A lock's details are written on the server and may say anything: a
// run_id that is not a run id is never used in a command. deploy:unlock
// refuses it, naming the host and the value, and removes nothing (shared/
// stays); FORCE=1 removes the lock link alone, never what run_id names.
func TestUnlockRefusesHostileDetails(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	l := remote.At(st.DeployTo)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name, details, want string
	}{
		{"run_id climbing to shared", "run_id=x/../../shared\nuser=eve\n", `the deploy lock's run_id is "x/../../shared", which is not a run id`},
		{"run_id with a space", "run_id=a -rf b\nuser=eve\n", `the deploy lock's run_id is "a -rf b"`},
		{"pid not a number", "run_id=ok1\nuser=eve\npid=1;reboot\n", `the deploy lock's pid is "1;reboot"`},
		{"machine not hex", "run_id=ok1\nuser=eve\nmachine=../../x\n", `the deploy lock's machine is "../../x"`},
	} {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, force=%v", tc.name, force), func(t *testing.T) {
				os.RemoveAll(l.State())
				os.MkdirAll(l.Shared()+"/config", 0o755)
				os.WriteFile(l.Shared()+"/config/secrets.yml", []byte("keep\n"), 0o600)
				if out, err := sh(t, l.TakeLock("evil", nil), ""); err != nil {
					t.Fatalf("%v %s", err, out)
				}
				os.WriteFile(l.LockDetails(), []byte(tc.details), 0o644)
				os.WriteFile(l.LockHeartbeat(), []byte("heartbeat="+stale+"\n"), 0o644)
				setenv(d, "FORCE", map[bool]string{true: "1", false: ""}[force])
				out, err := localRun(t, d, st, Unlock, time.Now())
				all := out + fmt.Sprint(err)
				if _, serr := os.Stat(l.Shared() + "/config/secrets.yml"); serr != nil {
					t.Fatalf("unlock removed shared/: %v\n%s", serr, all)
				}
				if !strings.Contains(all, "localhost: "+tc.want) {
					t.Errorf("output lacks %q:\n%s", tc.want, all)
				}
				_, statErr := os.Stat(l.LockDir())
				if gone := os.IsNotExist(statErr); gone != force {
					t.Errorf("lock gone = %v with force=%v\n%s", gone, force, all)
				}
				if (err == nil) != force {
					t.Errorf("error = %v", err)
				}
			})
		}
	}
}

// A directory in releases/ named after every release name a new release
// can have (99999999999999) stops a deploy at the lock, before the fetch,
// with an error naming the host and the directory and saying what to do;
// nothing else is made and the lock is released. A rollback, which makes
// no release, still works, and cleanup leaves the directory alone.
func TestDeployRefusesReleaseNamedPastEveryName(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	d := isolate(t, Config{Application: "app", KeepReleases: 5})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	l := remote.At(st.DeployTo)
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	for i := range 2 {
		if out, err := localRun(t, d, st, Deploy, t0.Add(time.Duration(i)*4*time.Second)); err != nil {
			t.Fatalf("deploy %d: %v\n%s", i, err, out)
		}
	}
	bogus := l.Release("99999999999999")
	if err := os.MkdirAll(bogus, 0o755); err != nil {
		t.Fatal(err)
	}
	mirrorBefore, _ := os.ReadFile(filepath.Join(l.Repo(), "FETCH_HEAD"))
	commit(t, repo, "v3\n")
	out, err := localRun(t, d, st, Deploy, t0.Add(10*time.Second))
	all := out + fmt.Sprint(err)
	for _, want := range []string{"localhost: " + bogus + " sorts after every release name", "mv " + bogus + " " + filepath.Join(st.DeployTo, "not-a-release-99999999999999")} {
		if err == nil || !strings.Contains(all, want) {
			t.Errorf("deploy error = %v, want it to say %q\n%s", err, want, out)
		}
	}
	if strings.Contains(out, "git:update") || strings.Contains(out, "git remote update") {
		t.Errorf("the deploy went on past the lock:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Repo(), "FETCH_HEAD")); !bytes.Equal(b, mirrorBefore) {
		t.Errorf("the deploy fetched before refusing")
	}
	ents, _ := os.ReadDir(l.Releases())
	if len(ents) != 3 {
		t.Errorf("releases/ holds %v, want the two releases and the bogus directory", ents)
	}
	if _, err := os.Lstat(l.LockDir()); !os.IsNotExist(err) {
		t.Errorf("the lock was left: %v", err)
	}
	if out, err := localRun(t, d, st, Rollback, t0.Add(20*time.Second)); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := readLink(t, l.Current()); got != l.Release("20261125214038") {
		t.Errorf("after rollback current -> %s", got)
	}
	if _, err := os.Stat(bogus); err != nil {
		t.Errorf("the bogus directory was removed: %v", err)
	}
}
