package remote

import (
	"fmt"
	"path"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Markers in the output of the lock commands.
const (
	LockTaken   = "capstan-lock-taken"
	LockHeld    = "capstan-lock-held"
	LockNotOurs = "capstan-lock-not-ours"
	LockNone    = "capstan-no-lock"
	LockCleared = "capstan-lock-cleared"
	// LockUnfinished follows the names in releases/ in the answer of a
	// lock taken; the unfinished markers follow it (ParseLockTaken).
	LockUnfinished = "capstan-lock-unfinished"
)

// LockDir is the lock: a symbolic link to the holder's lock data
// directory (LockData). LockDetails and LockHeartbeat are the files in it,
// reached through the link.
func (l Layout) LockDir() string       { return path.Join(l.State(), "lock") }
func (l Layout) LockDetails() string   { return path.Join(l.LockDir(), "details") }
func (l Layout) LockHeartbeat() string { return path.Join(l.LockDir(), "heartbeat") }

// LockData is the directory holding runID's lock details and heartbeat,
// built before the lock link points at it.
func (l Layout) LockData(runID string) string { return path.Join(l.State(), lockDataPrefix+runID) }

const lockDataPrefix = "lock.d-"

// lockAside is where a lock is moved to be removed.
func (l Layout) lockAside(what, runID string) string {
	return path.Join(l.State(), "lock."+what+"-"+runID)
}

// lockExists succeeds when there is a lock: a link (even a dangling one)
// or, as older Capstan versions made it, a directory.
func (l Layout) lockExists() shell.Command {
	return shell.New("test", "-L", l.LockDir()).Or(shell.New("test", "-e", l.LockDir()))
}

// heartbeatLine writes "heartbeat=<server seconds>" to file.
func heartbeatLine(file string) shell.Command {
	return shell.New("date", "+heartbeat=%s").WriteTo(file)
}

// lockTimes appends "locked_at=<UTC time>" to details and writes
// "heartbeat=<server seconds>" to heartbeat, both read from one date.
func lockTimes(details, heartbeat string) shell.Command {
	return shell.POSIX(`capstan_d=$(date -u '+locked_at=%Y-%m-%dT%H:%M:%SZ heartbeat=%s') && ` +
		`printf '%s\n' "${capstan_d% *}" >>` + shell.Quote(details) + ` && printf '%s\n' "${capstan_d#* }" >` + shell.Quote(heartbeat))
}

// LockState prints the lock's details and heartbeat and the server's
// clock (server_now=<seconds>); it always succeeds.
func (l Layout) LockState() shell.Command {
	return shell.New("cat", l.LockDetails(), l.LockHeartbeat()).Quiet().
		Then(shell.New("date", "+server_now=%s"))
}

// ShowLock prints LockHeld and [Layout.LockState] when there is a lock,
// and nothing otherwise; it always succeeds.
func (l Layout) ShowLock() shell.Command {
	return l.lockExists().And(shell.New("echo", LockHeld)).And(l.LockState()).Or(shell.New("true"))
}

// TakeLock takes the lock: it builds runID's lock data directory with the
// details (lines, then the server's time) and a heartbeat, then makes the
// lock link point at it with ln -sn, a symlink(2) that fails when a lock
// is there (portable: GNU, BSD and BusyBox ln alike), so a lock is never
// visible without its details. Then it prints LockTaken, where current
// points (an empty line when nowhere), the names in releases/, one per
// line, LockUnfinished and the unfinished markers, one per line: what
// deploy:cleanup needs, read under the lock ([ParseLockTaken]). If a lock is there already, it removes what it built and prints
// LockHeld and the holder's details, heartbeat and the server's clock
// instead, and still succeeds; a lock released between the two (its run
// ending right then) is tried again once. Any other failure (no space
// left, no permission) fails and leaves nothing.
func (l Layout) TakeLock(runID string, lines []string) shell.Command {
	lock, data := l.LockDir(), l.LockData(runID)
	details := path.Join(data, "details")
	build := shell.New("mkdir", data).
		And(shell.New("printf", append([]string{`%s\n`}, lines...)...).WriteTo(details)).
		And(lockTimes(details, path.Join(data, "heartbeat")))
	// ln would put the link inside a lock directory of an older version.
	notADirectory := shell.New("test", "-L", lock).Or(shell.New("test", "!", "-d", lock))
	link := shell.New("ln", "-sn", lockDataPrefix+runID, lock)
	taken := shell.New("echo", LockTaken).
		And(shell.New("readlink", l.Current()).Quiet().Or(shell.New("echo"))).
		And(listNames(l.Releases())).
		And(shell.New("echo", LockUnfinished)).
		And(listNames(l.Unfinished()))
	held := shell.New("rm", "-rf", "--", data).
		And(l.lockExists()).
		And(shell.New("echo", LockHeld)).
		And(l.LockState())
	take := func(link shell.Command) shell.Command {
		return build.And(notADirectory).And(link.Quiet()).And(taken)
	}
	// A lock that ln found but that was released before held looked at it
	// (another run ending right then) is neither taken nor held: one more
	// try, from the start, takes it or reports its new holder. Failing
	// twice is a real failure.
	return ensureDirs(l.State()).
		And(removeIfPresent(data)).
		And(take(shown(link)).Or(held).Or(removeIfPresent(data).And(take(link)).Or(held)))
}

// ownsLock succeeds when the lock's details hold runID.
func (l Layout) ownsLock(runID string) shell.Command {
	return HasLine(l.LockDetails(), "run_id="+runID)
}

// Heartbeat refreshes the heartbeat of runID's lock; it does nothing when
// the lock is not runID's.
func (l Layout) Heartbeat(runID string) shell.Command {
	tmp := path.Join(l.LockData(runID), "heartbeat.new")
	return l.ownsLock(runID).
		And(heartbeatLine(tmp)).
		And(shell.New("mv", "--", tmp, path.Join(l.LockData(runID), "heartbeat"))).
		Or(shell.New("true"))
}

// ReleaseLock removes the lock if runID holds it: the link first, so the
// lock disappears at once and whole, then its data and the scratch
// directories runID may have left in the state directory ([Layout.Switch],
// [Layout.writeMarker]), all in one rm, which removes its operands in
// order. Otherwise it removes runID's own lock data, if a take was cut
// short, and its scratch directories, prints LockNotOurs and the details
// found, and fails. Every name it removes but the lock holds the run id,
// so no other run's is touched.
func (l Layout) ReleaseLock(runID string) shell.Command {
	own := []string{l.LockData(runID), l.switchDir(runID), l.switchDir(runID + "-back"), l.markDir(runID)}
	notOurs := shell.New("rm", append([]string{"-rf", "--"}, own...)...).
		And(shell.New("echo", LockNotOurs)).
		And(shell.New("cat", l.LockDetails()).Quiet().Or(shell.New("true"))).
		And(shell.New("false"))
	remove := shell.New("rm", append([]string{"-rf", "--", l.LockDir()}, own...)...).Shown(shell.New("rm", "-f", "--", l.LockDir()).String())
	return l.ownsLock(runID).And(remove).Or(notOurs)
}

// LockFence fails, saying why, unless runID still holds the lock. The
// switch of current runs behind it, so a run whose lock was cleared by
// deploy:unlock (and maybe taken by another run) changes nothing.
func (l Layout) LockFence(runID string) shell.Command {
	return l.ownsLock(runID).
		Or(shell.New("echo", "the deploy lock "+l.LockDir()+" is no longer held by this run ("+runID+"), was it cleared with deploy:unlock? Not changing current").ToStderr().
			And(shell.New("false")))
}

// ClearLock removes the lock of the run holderID (any lock, when holderID
// is empty), for runID's deploy:unlock: it renames the lock aside
// (atomically, so what it prints is exactly what it removed), prints
// LockCleared and the details, and removes it with the holder's data.
// When the lock is gone, or is now another run's, it prints LockNone.
// holderID comes from the lock's details, written on the server: unless
// it is a run id ([IsRunID]) it is refused, since it becomes part of the
// path that rm -rf removes (run_id=x/../../shared would remove shared/).
func (l Layout) ClearLock(holderID, runID string) (shell.Command, error) {
	if holderID != "" && !IsRunID(holderID) {
		return shell.Command{}, fmt.Errorf("the deploy lock's run_id %s is not %s", Sanitize(holderID), RunIDGrammar)
	}
	if !IsRunID(runID) {
		return shell.Command{}, fmt.Errorf("this run's id %s is not %s", Sanitize(runID), RunIDGrammar)
	}
	aside := l.lockAside("cleared", runID)
	move := l.lockExists().And(shell.New("mv", "--", l.LockDir(), aside))
	remove := []string{"-rf", "--", aside}
	if holderID != "" {
		move = l.ownsLock(holderID).And(move)
		remove = append(remove, l.LockData(holderID))
	}
	clear := move.
		And(shell.New("echo", LockCleared)).
		And(shell.New("cat", path.Join(aside, "details")).Quiet().Or(shell.New("true"))).
		And(shell.New("rm", remove...))
	return clear.Or(shell.New("echo", LockNone)), nil
}
