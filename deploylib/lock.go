package deploylib

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The deploy lock keeps two runs from changing the same servers at once.
//
// It is the directory <deploy_to>/.capstan/lock, made with mkdir, which is
// atomic: of two runs, exactly one creates it. A details file inside says
// who holds it (run id, user, local host, pid, stage, branch, revision,
// local start time and the server's time when taken). deploy:check takes it
// on every release host, the first host by name first, and fails at once,
// naming the holder, if another run holds it anywhere; the locks this run
// took are then released. Because every run starts with the same host and
// never waits, runs cannot deadlock, and of two runs started together over
// the same hosts exactly one proceeds. A run releases the lock when it ends (success,
// failure or interrupt) with one command per host that removes it only if
// its details still hold the run's id, so a run never removes a lock it
// does not hold; before switching current it checks the same way that the
// lock is still its own. A lock left by a killed run stays until
// deploy:unlock, which shows whose it was and removes it.

var (
	// Lock takes the deploy lock on every release host; deploy:check runs
	// it last.
	Lock = &Task{name: "deploy:lock", doc: "takes the deploy lock on every server"}
	// Unlock clears a stale deploy lock on every release host, showing
	// whose it was (mage production deploy:unlock).
	Unlock = &Task{name: "deploy:unlock", doc: "clears a stale deploy lock, showing whose it was"}
)

func init() {
	Lock.action = takeLock
	Unlock.action = unlock
}

// Markers in the output of the lock commands.
const (
	lockHeldMarker    = "capstan-lock-held"
	lockNotOursMarker = "capstan-lock-not-ours"
	lockNoneMarker    = "capstan-no-lock"
	lockClearedMarker = "capstan-lock-cleared"
)

// lockDir is the lock directory; lockDetails the file inside it.
func lockDir(deployTo string) string     { return path.Join(stateDir(deployTo), "lock") }
func lockDetails(deployTo string) string { return path.Join(lockDir(deployTo), "details") }

// lockCmd takes the lock: it makes the lock directory and writes the
// details into it, one line each, followed by the server's time; the
// details file appears whole (written aside, then renamed). If
// the directory exists it prints lockHeldMarker and the holder's details
// instead, and still succeeds. Any other failure (no space left, no
// permission) fails, and a lock whose details could not be written is
// removed again.
func lockCmd(deployTo string, lines []string) shell.Command {
	dir, details := lockDir(deployTo), lockDetails(deployTo)
	tmp := details + ".tmp"
	write := shell.New("printf", append([]string{`%s\n`}, lines...)...).WriteTo(tmp).
		And(shell.New("date", "-u", "+locked_at=%Y-%m-%dT%H:%M:%SZ").AppendTo(tmp)).
		And(shell.New("mv", "--", tmp, details))
	take := shell.New("mkdir", dir).
		And(write.Or(shell.New("rm", "-rf", "--", dir).And(shell.New("false"))))
	held := shell.New("test", "-d", dir).
		And(shell.New("echo", lockHeldMarker)).
		And(shell.New("cat", details).Quiet().Or(shell.New("true")))
	return shell.New("mkdir", "-p", stateDir(deployTo)).And(take.Or(held))
}

// readLockCmd prints the lock's details, if any.
func readLockCmd(deployTo string) shell.Command {
	return shell.New("cat", lockDetails(deployTo)).Quiet().Or(shell.New("true"))
}

// ownsLockCmd succeeds when the lock's details hold runID.
func ownsLockCmd(deployTo, runID string) shell.Command {
	return shell.New("grep", "-qxF", "--", "run_id="+runID, lockDetails(deployTo)).Quiet()
}

// unlockOwnCmd removes the lock if runID holds it; otherwise it prints
// lockNotOursMarker and the details found, and fails.
func unlockOwnCmd(deployTo, runID string) shell.Command {
	notOurs := shell.New("echo", lockNotOursMarker).
		And(shell.New("cat", lockDetails(deployTo)).Quiet().Or(shell.New("true"))).
		And(shell.New("false"))
	return ownsLockCmd(deployTo, runID).Or(notOurs).And(shell.New("rm", "-rf", "--", lockDir(deployTo)))
}

// lockFenceCmd fails, saying why, unless runID still holds the lock. The
// switch of current runs behind it, so a run whose lock was cleared by
// deploy:unlock (and maybe taken by another run) changes nothing.
func lockFenceCmd(deployTo, runID string) shell.Command {
	return ownsLockCmd(deployTo, runID).
		Or(shell.New("echo", "the deploy lock "+lockDir(deployTo)+" is no longer held by this run ("+runID+"), was it cleared with deploy:unlock? Not changing current").ToStderr().
			And(shell.New("false")))
}

// lockNoteCmd appends line to the lock's details if runID holds it.
func lockNoteCmd(deployTo, runID, line string) shell.Command {
	return ownsLockCmd(deployTo, runID).
		And(shell.New("echo", line).AppendTo(lockDetails(deployTo))).
		Or(shell.New("true"))
}

// clearLockCmd removes the lock whoever holds it: it moves the directory
// aside (atomically, so what it prints is exactly what it removed), prints
// lockClearedMarker and the details, and removes it; with no lock it
// prints lockNoneMarker.
func clearLockCmd(deployTo, runID string) shell.Command {
	dir := lockDir(deployTo)
	aside := path.Join(stateDir(deployTo), "lock.cleared-"+runID)
	exists := shell.New("test", "-e", dir).Or(shell.New("test", "-L", dir))
	none := shell.New("test", "!", "-e", dir).And(shell.New("test", "!", "-L", dir))
	clear := shell.New("mv", "--", dir, aside).
		And(shell.New("echo", lockClearedMarker)).
		And(shell.New("cat", path.Join(aside, "details")).Quiet().Or(shell.New("true"))).
		And(shell.New("rm", "-rf", "--", aside))
	return exists.Or(shell.New("echo", lockNoneMarker)).Then(none.Or(clear))
}

// LockInfo is what a deploy lock's details file says about its holder.
// Fields the file does not have are empty.
type LockInfo struct {
	RunID     string
	User      string
	LocalHost string // the machine the holder runs on
	PID       string
	Stage     string
	Task      string // what the holder runs: deploy, deploy:rollback, ...
	Branch    string
	Revision  string // the commit, once resolved
	Started   string // when the holder started, by its own clock (RFC 3339)
	LockedAt  string // when the lock was taken, by the server's clock
}

// lockIdentity returns this machine's name and this process's ID, for the
// lock's details; tests fix them.
var lockIdentity = func() (host string, pid int) {
	host, _ = os.Hostname()
	return host, os.Getpid()
}

// lockDetailsFor returns the lines of the details file this run writes.
func (r *Run) lockDetailsFor() []string {
	host, pid := lockIdentity()
	task := ""
	if r.root != nil {
		task = r.root.name
	}
	fields := [][2]string{
		{"capstan_lock", "1"},
		{"run_id", r.ID},
		{"user", r.User},
		{"local_host", host},
		{"pid", strconv.Itoa(pid)},
		{"stage", r.Stage.Name},
		{"task", task},
		{"branch", r.Config.Branch},
		{"started", r.Started.UTC().Format(time.RFC3339)},
	}
	lines := make([]string, len(fields))
	for i, f := range fields {
		lines[i] = f[0] + "=" + cleanLockValue(f[1])
	}
	return lines
}

// cleanLockValue keeps a value on its line: control characters become ?.
func cleanLockValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// parseLockInfo reads a details file; the first value of a key wins.
func parseLockInfo(s string) LockInfo {
	var li LockInfo
	fields := map[string]*string{
		"run_id": &li.RunID, "user": &li.User, "local_host": &li.LocalHost, "pid": &li.PID,
		"stage": &li.Stage, "task": &li.Task, "branch": &li.Branch, "revision": &li.Revision,
		"started": &li.Started, "locked_at": &li.LockedAt,
	}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if p := fields[k]; ok && p != nil && *p == "" {
			*p = cleanLockValue(v)
		}
	}
	return li
}

// String describes the holder in one line.
func (li LockInfo) String() string {
	if li.RunID == "" && li.User == "" {
		return "an unknown run (the lock has no readable details: a run may have been killed while taking it)"
	}
	who := li.User
	if li.LocalHost != "" {
		who += "@" + li.LocalHost
	}
	var extra []string
	if li.PID != "" {
		extra = append(extra, "pid "+li.PID)
	}
	if li.RunID != "" {
		extra = append(extra, "run "+li.RunID)
	}
	s := who
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	what := li.Task
	if what == "" {
		what = "a run"
	}
	if li.Stage != "" {
		what += " of " + li.Stage
	}
	if li.Branch != "" {
		what += ", branch " + li.Branch
	}
	if li.Revision != "" {
		what += " at " + shortSHA(li.Revision)
	}
	s += ", " + what
	switch {
	case li.LockedAt != "":
		s += ", since " + li.LockedAt
	case li.Started != "":
		s += ", started " + li.Started
	}
	return s
}

// aliveHere reports whether the holder runs on this machine and its
// process still exists.
func (li LockInfo) aliveHere() bool {
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(li.PID)
	if err != nil || pid <= 0 || li.LocalHost == "" || li.LocalHost != host {
		return false
	}
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}

// LockedError reports that another run holds the deploy lock. The run that
// gets it changed nothing and runs no deploy:failed hooks.
type LockedError struct {
	// Host is the host where the lock was found held.
	Host string
	// Holder is what the lock's details say.
	Holder LockInfo
	stage  string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s: the deploy lock is held by %s. Nothing was changed. If that run is gone, clear the lock with: mage %s deploy:unlock", e.Host, e.Holder, e.stage)
}

// takeLock takes the lock on every release host. The hosts are ordered by
// name; the lock of the first one decides between runs that start
// together (of two runs over the same hosts, exactly one gets it, and the
// other stops there, holding nothing), so the other hosts are then locked
// in parallel, keeping the cost of locking at two round trips whatever the
// number of hosts. No run ever waits for a lock, so runs cannot deadlock.
// Two runs over different but overlapping host sets (HOSTS filters) may
// both be refused; neither changes anything.
func takeLock(ctx context.Context) error {
	r := CurrentRun(ctx)
	hosts, _ := ReleaseRoles()(r)
	hosts = slices.Clone(hosts)
	slices.SortStableFunc(hosts, func(a, b *Host) int { return strings.Compare(a.Server.Host, b.Server.Host) })
	if len(hosts) == 0 {
		return nil
	}
	cmd := lockCmd(r.Config.DeployTo, r.lockDetailsFor())
	take := func(ctx context.Context, h *Host) error {
		st := r.hostState(h)
		if st.locked {
			return nil
		}
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			return fmt.Errorf("taking the deploy lock: %w", err)
		}
		if i := strings.Index(out, lockHeldMarker); i >= 0 && !r.DryRun() {
			holder := parseLockInfo(out[i+len(lockHeldMarker):])
			// A lock taken an instant ago has no details yet: look again
			// shortly, to say whose it is.
			for try := 0; holder.RunID == "" && try < 5 && ctx.Err() == nil; try++ {
				time.Sleep(200 * time.Millisecond)
				if again, err := h.CaptureCommand(ctx, readLockCmd(r.Config.DeployTo)); err == nil {
					holder = parseLockInfo(again)
				}
			}
			return &LockedError{Host: h.String(), Holder: holder, stage: r.Stage.Name}
		}
		st.locked = true
		return nil
	}
	if err := take(ctx, hosts[0]); err != nil {
		return err
	}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = take(ctx, h)
		}()
	}
	wg.Wait()
	// A lock held elsewhere is the whole story: report the first one.
	for _, err := range errs {
		var le *LockedError
		if errors.As(err, &le) {
			return le
		}
	}
	return errors.Join(errs...)
}

// releaseLocks releases the lock on every host where this run holds it.
// A lock that is no longer this run's is left alone, with a warning.
func (r *Run) releaseLocks(ctx context.Context) error {
	var held []*Host
	for _, h := range r.hosts {
		if r.state[h].locked {
			held = append(held, h)
		}
	}
	if len(held) == 0 {
		return nil
	}
	cmd := unlockOwnCmd(r.Config.DeployTo, r.ID)
	var mu sync.Mutex
	var errs []error
	eachHost(held, func(h *Host) {
		out, err := h.CaptureCommand(ctx, cmd)
		st := r.state[h]
		switch {
		case err == nil:
			st.locked = false
		case strings.Contains(out, lockNotOursMarker):
			st.locked = false
			if now := parseLockInfo(out[strings.Index(out, lockNotOursMarker)+len(lockNotOursMarker):]); now.RunID != "" {
				r.console.Warn("%s: the deploy lock is no longer this run's (now held by %s); left it alone", h, now)
			} else {
				r.console.Warn("%s: the deploy lock was already gone (cleared with deploy:unlock?)", h)
			}
		default:
			mu.Lock()
			errs = append(errs, fmt.Errorf("releasing the deploy lock: %w\nclear it with: mage %s deploy:unlock", err, r.Stage.Name))
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

// unlock is deploy:unlock: it removes the lock on every release host,
// saying whose it was.
func unlock(ctx context.Context) error {
	r := CurrentRun(ctx)
	cmd := clearLockCmd(r.Config.DeployTo, r.ID)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			return fmt.Errorf("clearing the deploy lock: %w", err)
		}
		if r.DryRun() {
			return nil
		}
		i := strings.Index(out, lockClearedMarker)
		if i < 0 {
			r.console.Info("%s: no deploy lock", h)
			return nil
		}
		li := parseLockInfo(out[i+len(lockClearedMarker):])
		r.console.Info("%s: removed the deploy lock held by %s", h, li)
		if li.aliveHere() {
			r.console.Warn("%s: process %s on this machine, which took that lock, is still running: it may still be deploying", h, li.PID)
		}
		return nil
	})
}
