package deploylib

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The lock's details name a fixed machine and process in this package's
// tests, so that transcripts do not depend on where they run.
func init() {
	lockIdentity = func() (string, int) { return "testhost", 4242 }
}

// sh runs c through /bin/sh with stdin and returns its output and error.
func sh(t *testing.T, c shell.Command, stdin string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := (&backend.Local{}).Run(context.Background(), c, backend.Stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out})
	return out.String(), err
}

// The lock commands, run for real against a directory whose name a shell
// would misread.
func TestLockCommands(t *testing.T) {
	deployTo := filepath.Join(t.TempDir(), "my app's $(dir)")
	details := "capstan_lock=1\nrun_id=run-a\nuser=alice $(id)\n"

	out, err := sh(t, lockCmd(deployTo, strings.Split(strings.TrimSpace(details), "\n")), "")
	if err != nil || strings.Contains(out, lockHeldMarker) {
		t.Fatalf("first lock: %v %q", err, out)
	}
	b, _ := os.ReadFile(lockDetails(deployTo))
	if !strings.HasPrefix(string(b), details) || !strings.Contains(string(b), "\nlocked_at=20") {
		t.Errorf("details = %q", b)
	}
	if _, err := os.Stat(lockDetails(deployTo) + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary details file is left: %v", err)
	}

	out, err = sh(t, lockCmd(deployTo, []string{"run_id=run-b"}), "")
	if err != nil || !strings.Contains(out, lockHeldMarker) {
		t.Fatalf("second lock: %v %q, want held", err, out)
	}
	if li := parseLockInfo(out); li.RunID != "run-a" || li.User != "alice $(id)" || li.LockedAt == "" {
		t.Errorf("holder = %+v", li)
	}

	for _, c := range []shell.Command{lockFenceCmd(deployTo, "run-b"), unlockOwnCmd(deployTo, "run-b")} {
		if _, err := sh(t, c, ""); err == nil {
			t.Errorf("%s succeeded for a run that does not hold the lock", c)
		}
	}
	out, _ = sh(t, unlockOwnCmd(deployTo, "run-b"), "")
	if !strings.Contains(out, lockNotOursMarker) || !strings.Contains(out, "run_id=run-a") {
		t.Errorf("release by another run printed %q", out)
	}
	if _, err := os.Stat(lockDir(deployTo)); err != nil {
		t.Fatalf("another run's release removed the lock: %v", err)
	}
	if _, err := sh(t, lockFenceCmd(deployTo, "run-a"), ""); err != nil {
		t.Errorf("fence of the holder: %v", err)
	}
	if _, err := sh(t, lockNoteCmd(deployTo, "run-a", "revision=abc"), ""); err != nil {
		t.Errorf("note: %v", err)
	}
	if _, err := sh(t, lockNoteCmd(deployTo, "run-b", "revision=evil"), ""); err != nil {
		t.Errorf("note of another run must not fail: %v", err)
	}
	b, _ = os.ReadFile(lockDetails(deployTo))
	if li := parseLockInfo(string(b)); li.Revision != "abc" {
		t.Errorf("revision noted = %q (details %q)", li.Revision, b)
	}
	if _, err := sh(t, unlockOwnCmd(deployTo, "run-a"), ""); err != nil {
		t.Errorf("release by the holder: %v", err)
	}
	if _, err := os.Stat(lockDir(deployTo)); !os.IsNotExist(err) {
		t.Fatalf("the holder's release left the lock: %v", err)
	}

	// deploy:unlock: no lock, then a stale one.
	out, err = sh(t, clearLockCmd(deployTo, "u1"), "")
	if err != nil || !strings.Contains(out, lockNoneMarker) {
		t.Errorf("unlock without a lock: %v %q", err, out)
	}
	sh(t, lockCmd(deployTo, []string{"run_id=stale", "user=bob", "pid=4242"}), "")
	out, err = sh(t, clearLockCmd(deployTo, "u2"), "")
	if err != nil || !strings.Contains(out, lockClearedMarker) || !strings.Contains(out, "user=bob") {
		t.Errorf("unlock of a stale lock: %v %q", err, out)
	}
	if ents, _ := os.ReadDir(stateDir(deployTo)); len(ents) != 0 {
		t.Errorf("unlock left %v in the state directory", ents)
	}
}

func TestLockInfoString(t *testing.T) {
	li := parseLockInfo("run_id=ab12\nuser=bob\nlocal_host=laptop\npid=77\nstage=production\ntask=deploy\nbranch=main\nrevision=0123456789abcdef0123\nlocked_at=2026-11-25T21:40:42Z\nuser=mallory\n")
	want := "bob@laptop (pid 77, run ab12), deploy of production, branch main at 0123456789ab, since 2026-11-25T21:40:42Z"
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
	return backend.Rule{Match: "mkdir /srv/shop/.capstan/lock", Reply: backend.Reply{Stdout: lockHeldMarker + "\nrun_id=bob1\nuser=bob\nlocal_host=laptop\npid=77\nlocked_at=2026-11-25T21:00:00Z\n"}}
}

func TestDeployRefusedByLockChangesNothing(t *testing.T) {
	isolate(t, testConfig())
	var tr trace
	After(Failed, tr.hook("failed"))
	rec := backend.NewRecorder("")
	held := heldByBob()
	var out bytes.Buffer
	err := Start(context.Background(), Deploy, WithStage(testStage("web3", "web2", "web1")), WithOutput(&out), WithColor(false),
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
	for _, want := range []string{"web2", "bob@laptop (pid 77, run bob1)", "since 2026-11-25T21:00:00Z", "mage test deploy:unlock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(tr.steps) != 0 {
		t.Errorf("deploy:failed hooks ran for a run refused by the lock: %v", tr.steps)
	}
	// web1 is locked first, alone (hosts in name order); the others then.
	// Whatever this run locked is released; nothing else changes.
	var lockOrder []string
	released := map[string]bool{}
	for _, c := range rec.Log() {
		switch {
		case strings.Contains(c.Command, "mkdir /srv/shop/.capstan/lock"):
			lockOrder = append(lockOrder, c.Host)
			if !strings.Contains(c.Command, "run_id=run0001 user=alice local_host=testhost pid=4242 stage=test task=deploy branch=main started=2026-11-25T21:40:42Z") {
				t.Errorf("%s: lock command = %s", c.Host, c.Command)
			}
		case strings.Contains(c.Command, "rm -rf -- /srv/shop/.capstan/lock"):
			released[c.Host] = true
		case strings.Contains(c.Command, "releases/2026") || strings.Contains(c.Command, "git clone"):
			t.Errorf("%s: a refused run ran %s", c.Host, c.Command)
		}
	}
	if len(lockOrder) != 3 || lockOrder[0] != "web1" {
		t.Errorf("lock order %v, want web1 first", lockOrder)
	}
	if !released["web1"] || !released["web3"] || released["web2"] {
		t.Errorf("released on %v, want web1 and web3, never web2", released)
	}
}

func TestLockReleasedAfterFailure(t *testing.T) {
	isolate(t, testConfig())
	rec, _, err := recorderRun(t, testStage("web1"), Deploy, append([]backend.Rule{
		{Match: "ln -s /srv/shop/shared/log", Reply: backend.Reply{Status: 3}},
	}, gitRules...)...)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	log := rec.Log()
	last := log[len(log)-1].Command
	if !strings.Contains(last, "grep -qxF -- run_id=run0001") || !strings.Contains(last, "rm -rf -- /srv/shop/.capstan/lock") {
		t.Errorf("the last command is not the lock release: %s", last)
	}
	var failedAt, releaseAt int
	for i, c := range log {
		if strings.Contains(c.Command, "grep -qxF -- run0001") {
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
	isolate(t, testConfig())
	r := &Run{Config: testConfig().withDefaults(Stage{})}
	for task, want := range map[*Task]bool{
		Cleanup: true, SymlinkRelease: true, GitCreateRelease: true, LogRevision: true, Published: true,
		Deploy: false, Rollback: false, Check: false, Starting: false, // they reach deploy:lock themselves
		GitCheck: false, Unlock: false, Lock: false,
		NewTask("team:notify", "", nil): false,
	} {
		if got := r.needsLock(task); got != want {
			t.Errorf("needsLock(%s) = %v, want %v", task.Name(), got, want)
		}
	}
	rec, out, err := recorderRun(t, testStage("web1"), Cleanup, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	log := rec.Log()
	if !strings.Contains(log[0].Command, "mkdir /srv/shop/.capstan/lock") || !strings.Contains(log[len(log)-1].Command, "rm -rf -- /srv/shop/.capstan/lock") {
		t.Errorf("deploy:cleanup on its own did not hold the lock:\n%s", transcript(rec))
	}
}

func TestUnlockShowsWhoseLockItWas(t *testing.T) {
	isolate(t, testConfig())
	_, out, err := recorderRun(t, testStage("web1", "web2"), Unlock,
		backend.Rule{Match: "lock.cleared-run0001", Reply: backend.Reply{Stdout: lockClearedMarker + "\nrun_id=bob1\nuser=bob\nlocal_host=laptop\npid=77\nlocked_at=2026-11-25T21:00:00Z\n"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Count(out, "removed the deploy lock held by bob@laptop (pid 77, run bob1)") != 2 {
		t.Errorf("deploy:unlock output:\n%s", out)
	}
}

// Two deploys of one local repository started 10 ms apart: exactly one
// proceeds; the other is refused by the lock and leaves nothing.
func TestLocalConcurrentDeploys(t *testing.T) {
	repo := newGitRepo(t)
	isolate(t, Config{Application: "app"})
	st, err := LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	for round := range 3 {
		at := t0.Add(time.Duration(round) * 2 * time.Second)
		errs := make(chan error, 2)
		for i := range 2 {
			go func() {
				time.Sleep(time.Duration(i) * 10 * time.Millisecond)
				_, err := localRun(t, st, Deploy, at)
				errs <- err
			}()
		}
		ok := 0
		for range 2 {
			err := <-errs
			var le *LockedError
			switch {
			case err == nil:
				ok++
			case !errors.As(err, &le):
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d deploys proceeded, want 1", round, ok)
		}
		if _, err := os.Stat(lockDir(st.DeployTo)); !os.IsNotExist(err) {
			t.Errorf("round %d: lock left: %v", round, err)
		}
		if got := readLink(t, filepath.Join(st.DeployTo, "current")); filepath.Base(got) != ReleaseNameAt(at) {
			t.Errorf("round %d: current -> %s", round, got)
		}
	}
}
