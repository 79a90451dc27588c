package remote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

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
	details := "capstan_lock=2\nrun_id=run-a\nuser=alice $(id)\n"

	out, err := sh(t, At(deployTo).TakeLock("run-a", strings.Split(strings.TrimSpace(details), "\n")), "")
	if err != nil || !strings.HasPrefix(out, LockTaken+"\n\n") {
		t.Fatalf("first lock: %v %q, want taken with no current", err, out)
	}
	b, _ := os.ReadFile(At(deployTo).LockDetails())
	if !strings.HasPrefix(string(b), details) || !strings.Contains(string(b), "\nlocked_at=20") {
		t.Errorf("details = %q", b)
	}
	if b, _ := os.ReadFile(At(deployTo).LockHeartbeat()); !strings.HasPrefix(string(b), "heartbeat=") {
		t.Errorf("heartbeat = %q", b)
	}
	if ents, _ := os.ReadDir(At(deployTo).State()); len(ents) != 2 {
		t.Errorf("taking the lock left %v in the state directory, want the lock and its data", ents)
	}

	os.MkdirAll(filepath.Join(deployTo, "releases", "20261125214038"), 0o755)
	os.Symlink(filepath.Join(deployTo, "releases", "20261125214038"), filepath.Join(deployTo, "current"))
	out, err = sh(t, At(deployTo).TakeLock("run-b", []string{"run_id=run-b"}), "")
	if err != nil || !strings.Contains(out, LockHeld) {
		t.Fatalf("second lock: %v %q, want held", err, out)
	}
	for _, want := range []string{"\nrun_id=run-a\n", "\nuser=alice $(id)\n", "\nlocked_at=20", "\nheartbeat=", "\nserver_now="} {
		if !strings.Contains(out, want) {
			t.Errorf("the held lock's answer lacks %q: %q", want, out)
		}
	}
	if ents, _ := os.ReadDir(At(deployTo).State()); len(ents) != 2 {
		t.Errorf("a refused lock left %v in the state directory", ents)
	}

	for _, c := range []shell.Command{At(deployTo).LockFence("run-b"), At(deployTo).ReleaseLock("run-b")} {
		if _, err := sh(t, c, ""); err == nil {
			t.Errorf("%s succeeded for a run that does not hold the lock", c)
		}
	}
	out, _ = sh(t, At(deployTo).ReleaseLock("run-b"), "")
	if !strings.Contains(out, LockNotOurs) || !strings.Contains(out, "run_id=run-a") {
		t.Errorf("release by another run printed %q", out)
	}
	if _, err := os.Stat(At(deployTo).LockDir()); err != nil {
		t.Fatalf("another run's release removed the lock: %v", err)
	}
	if _, err := sh(t, At(deployTo).LockFence("run-a"), ""); err != nil {
		t.Errorf("fence of the holder: %v", err)
	}
	os.WriteFile(At(deployTo).LockHeartbeat(), []byte("heartbeat=1\n"), 0o644)
	for _, id := range []string{"run-b", "run-a"} {
		if _, err := sh(t, At(deployTo).Heartbeat(id), ""); err != nil {
			t.Errorf("heartbeat of %s: %v", id, err)
		}
		b, _ := os.ReadFile(At(deployTo).LockHeartbeat())
		if refreshed := string(b) != "heartbeat=1\n"; refreshed != (id == "run-a") {
			t.Errorf("after the heartbeat of %s the heartbeat is %q", id, b)
		}
	}
	out, err = sh(t, At(deployTo).TakeLock("run-c", []string{"run_id=run-c"}), "")
	if err != nil || !strings.Contains(out, LockHeld) {
		t.Fatalf("third lock: %v %q, want held", err, out)
	}
	if _, err := sh(t, At(deployTo).ReleaseLock("run-a"), ""); err != nil {
		t.Errorf("release by the holder: %v", err)
	}
	if ents, _ := os.ReadDir(At(deployTo).State()); len(ents) != 0 {
		t.Errorf("the holder's release left %v in the state directory", ents)
	}
	out, err = sh(t, At(deployTo).TakeLock("run-c", []string{"run_id=run-c"}), "")
	if err != nil || !strings.HasPrefix(out, LockTaken+"\n"+filepath.Join(deployTo, "releases", "20261125214038")+"\n") {
		t.Fatalf("lock after release: %v %q, want taken, with current", err, out)
	}

	// deploy:unlock's removal: only the lock of the run it showed.
	out, err = sh(t, mustClear(t, At(deployTo), "run-a", "u1"), "")
	if err != nil || !strings.Contains(out, LockNone) {
		t.Errorf("clearing the lock of a run that no longer holds it: %v %q", err, out)
	}
	if _, err := os.Stat(At(deployTo).LockDir()); err != nil {
		t.Fatalf("clearing another run's lock removed run-c's: %v", err)
	}
	out, err = sh(t, mustClear(t, At(deployTo), "run-c", "u2"), "")
	if err != nil || !strings.Contains(out, LockCleared) || !strings.Contains(out, "run_id=run-c") {
		t.Errorf("clearing run-c's lock: %v %q", err, out)
	}
	out, err = sh(t, mustClear(t, At(deployTo), "", "u3"), "")
	if err != nil || !strings.Contains(out, LockNone) {
		t.Errorf("clearing with no lock: %v %q", err, out)
	}
	if ents, _ := os.ReadDir(At(deployTo).State()); len(ents) != 0 {
		t.Errorf("unlock left %v in the state directory", ents)
	}
}

// Two runs take the lock at the same instant, many times over: exactly one
// gets it, and the other always learns whose it is. A lock made with mkdir
// and filled afterwards was seen without its details in this race.
func TestLockRaceAlwaysShowsTheHolder(t *testing.T) {
	deployTo := t.TempDir()
	for round := range 40 {
		var start sync.WaitGroup
		start.Add(1)
		outs := make([]string, 2)
		errs := make([]error, 2)
		var done sync.WaitGroup
		for i := range 2 {
			done.Add(1)
			go func() {
				defer done.Done()
				id := fmt.Sprintf("run-%d-%d", round, i)
				start.Wait()
				outs[i], errs[i] = sh(t, At(deployTo).TakeLock(id, []string{"run_id=" + id, "user=u" + id}), "")
			}()
		}
		start.Done()
		done.Wait()
		taken := 0
		for i := range 2 {
			switch {
			case errs[i] != nil:
				t.Fatalf("round %d: %v %q", round, errs[i], outs[i])
			case strings.HasPrefix(outs[i], LockTaken):
				taken++
			case !strings.Contains(outs[i], "\nrun_id=run-"):
				t.Fatalf("round %d: the lock was seen without its holder's details: %q", round, outs[i])
			}
		}
		if taken != 1 {
			t.Fatalf("round %d: %d runs took the lock: %q", round, taken, outs)
		}
		if err := os.RemoveAll(At(deployTo).LockDir()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockReleasedDuringTakeIsTakenOnRetry: a lock that ln -sn finds but
// that its run releases before the take looks at it again (two runs, one
// ending as the other starts) is taken on a second try, not reported as a
// failure. The fake ln stands for the other run: on the first call it
// removes the lock it was about to collide with and fails, as ln does when
// the lock was there.
func TestLockReleasedDuringTakeIsTakenOnRetry(t *testing.T) {
	l := At(t.TempDir())
	bin := t.TempDir()
	realLn, err := exec.LookPath("ln")
	if err != nil {
		t.Fatal(err)
	}
	once := shell.Quote(filepath.Join(bin, "once"))
	fake := fmt.Sprintf("#!/bin/sh\nif [ ! -e %s ]; then\n  : > %s\n  rm -f -- %s\n  exit 1\nfi\nexec %s \"$@\"\n",
		once, once, shell.Quote(l.LockDir()), shell.Quote(realLn))
	if err := os.WriteFile(filepath.Join(bin, "ln"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(t, l.TakeLock("first", []string{"run_id=first"}), ""); err != nil || !strings.HasPrefix(out, LockTaken) {
		t.Fatalf("the first run's take: %v %q", err, out)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := sh(t, l.TakeLock("second", []string{"run_id=second"}), "")
	if err != nil || !strings.HasPrefix(out, LockTaken) {
		t.Fatalf("a lock released during the take: %v %q, want it taken", err, out)
	}
	if details, err := os.ReadFile(l.LockDetails()); err != nil || !strings.Contains(string(details), "run_id=second") {
		t.Errorf("the lock's details: %q %v, want the second run's", details, err)
	}
	if ents, _ := os.ReadDir(l.State()); len(ents) != 3 { // lock, its data, unfinished/
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf(".capstan holds %v, want the lock, its data and unfinished/", names)
	}
}

// The run's scratch space in .capstan is removed when it releases the
// lock, also when a switch was cut short (a leftover switch-<run id>), and
// also when the lock is not its own any more.
func TestScratchRemovedWithTheLock(t *testing.T) {
	for _, holds := range []bool{true, false} {
		deployTo := t.TempDir()
		if holds {
			if out, err := sh(t, At(deployTo).TakeLock("r1", []string{"run_id=r1"}), ""); err != nil || !strings.Contains(out, LockTaken) {
				t.Fatalf("%v %s", err, out)
			}
		}
		for _, d := range []string{"switch-r1", "switch-r1-back", "mark-r1", "switch-r2"} {
			os.MkdirAll(filepath.Join(At(deployTo).State(), d), 0o755)
		}
		out, err := sh(t, At(deployTo).ReleaseLock("r1"), "")
		if (err == nil) != holds {
			t.Errorf("holding the lock %v: release %v %s", holds, err, out)
		}
		ents, _ := os.ReadDir(At(deployTo).State())
		if len(ents) != 1 || ents[0].Name() != "switch-r2" {
			t.Errorf("holding the lock %v: left %v, want only another run's switch-r2", holds, ents)
		}
	}
}

func TestReleaseNameAfter(t *testing.T) {
	for in, want := range map[string]string{
		"20261125214038": "20261125214039",
		"20261231235959": "20270101000000",
		"20261399999999": "20261400000000", // not a time: counted up
	} {
		if got := ReleaseNameAfter(in); got != want {
			t.Errorf("ReleaseNameAfter(%s) = %s, want %s", in, got, want)
		}
	}
}

// A lock directory left by an older Capstan (mkdir .capstan/lock) is held:
// taking the lock never puts a link inside it.
func TestLockDirectoryOfAnOlderVersionIsHeld(t *testing.T) {
	l := At(t.TempDir())
	os.MkdirAll(l.LockDir(), 0o755)
	os.WriteFile(l.LockDetails(), []byte("run_id=old\nuser=bob\n"), 0o644)
	out, err := sh(t, l.TakeLock("new", []string{"run_id=new"}), "")
	if err != nil || !strings.Contains(out, LockHeld) || !strings.Contains(out, "run_id=old") {
		t.Fatalf("%v %q, want held by old", err, out)
	}
	if ents, _ := os.ReadDir(l.LockDir()); len(ents) != 1 {
		t.Errorf("the old lock directory now holds %v", ents)
	}
	if ents, _ := os.ReadDir(l.State()); len(ents) != 1 {
		t.Errorf("a refused take left %v", ents)
	}
	out, err = sh(t, mustClear(t, l, "", "u1"), "")
	if err != nil || !strings.Contains(out, LockCleared) || !strings.Contains(out, "run_id=old") {
		t.Fatalf("clearing the old lock: %v %q", err, out)
	}
	if ents, _ := os.ReadDir(l.State()); len(ents) != 0 {
		t.Errorf("clearing left %v", ents)
	}
}

// A take cut short after building its data leaves nothing once the run
// releases: ReleaseLock removes the run's own data even when the lock is
// not its own.
func TestReleaseRemovesACutShortTake(t *testing.T) {
	l := At(t.TempDir())
	if out, err := sh(t, l.TakeLock("holder", []string{"run_id=holder"}), ""); err != nil {
		t.Fatal(err, out)
	}
	os.MkdirAll(l.LockData("cut"), 0o755) // built, never linked
	out, err := sh(t, l.ReleaseLock("cut"), "")
	if err == nil || !strings.Contains(out, LockNotOurs) {
		t.Fatalf("%v %q, want not ours", err, out)
	}
	if _, err := os.Stat(l.LockData("cut")); !os.IsNotExist(err) {
		t.Errorf("the cut-short take's data is left: %v", err)
	}
	if _, err := os.Stat(l.LockDetails()); err != nil {
		t.Errorf("the holder's lock was touched: %v", err)
	}
}

// mustClear returns l.ClearLock(holderID, runID), failing t on an error.
func mustClear(t *testing.T, l Layout, holderID, runID string) shell.Command {
	t.Helper()
	c, err := l.ClearLock(holderID, runID)
	if err != nil {
		t.Fatalf("ClearLock(%q, %q): %v", holderID, runID, err)
	}
	return c
}

// A run id read from a lock's details becomes part of a path that rm -rf
// removes: ClearLock refuses any that is not a run id, so a hostile
// details file cannot point it at shared/.
func TestClearLockRefusesHostileRunID(t *testing.T) {
	for _, tc := range []struct {
		holder, run string
		ok          bool
	}{
		{"run-a", "u1", true},
		{"", "u1", true},
		{"ab12cd34", "0f0f0f0f", true},
		{"x/../../shared", "u1", false},
		{"..", "u1", false},
		{"a b", "u1", false},
		{"-rf", "u1", false},
		{"a\nb", "u1", false},
		{"run.1", "u1", false},
		{strings.Repeat("a", 65), "u1", false},
		{"run-a", "../u1", false},
		{"run-a", "", false},
	} {
		_, err := At("/srv/app").ClearLock(tc.holder, tc.run)
		if (err == nil) != tc.ok {
			t.Errorf("ClearLock(%q, %q) error = %v, want ok=%v", tc.holder, tc.run, err, tc.ok)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("error not sanitised: %q", err)
		}
	}
}
