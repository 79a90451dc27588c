package remote

import (
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
)

// LockDir is the lock directory; LockDetails and LockHeartbeat the files
// inside it.
func (l Layout) LockDir() string       { return path.Join(l.State(), "lock") }
func (l Layout) LockDetails() string   { return path.Join(l.LockDir(), "details") }
func (l Layout) LockHeartbeat() string { return path.Join(l.LockDir(), "heartbeat") }

// lockAside is where a run builds its lock, or moves a lock it removes.
func (l Layout) lockAside(what, runID string) string {
	return path.Join(l.State(), "lock."+what+"-"+runID)
}

// heartbeatLine writes "heartbeat=<server seconds>" to file.
func heartbeatLine(file string) shell.Command {
	return shell.New("date", "+heartbeat=%s").WriteTo(file)
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
	return shell.New("test", "-d", l.LockDir()).And(shell.New("echo", LockHeld)).And(l.LockState()).Or(shell.New("true"))
}

// TakeLock takes the lock: it builds the lock directory aside with the
// details (lines, then the server's time) and a heartbeat, and renames it
// into place (mv -T, a rename(2) that fails when a lock is there); then it
// prints LockTaken, where current points (an empty line when nowhere) and
// the names in releases/, one per line. If a lock is there already, it
// removes what it built and prints LockHeld and the holder's details,
// heartbeat and the server's clock instead, and still succeeds. Any other
// failure (no space left, no permission) fails and leaves nothing.
func (l Layout) TakeLock(runID string, lines []string) shell.Command {
	dir, aside := l.LockDir(), l.lockAside("new", runID)
	details := path.Join(aside, "details")
	build := shell.New("mkdir", aside).
		And(shell.New("printf", append([]string{`%s\n`}, lines...)...).WriteTo(details)).
		And(shell.New("date", "-u", "+locked_at=%Y-%m-%dT%H:%M:%SZ").AppendTo(details)).
		And(heartbeatLine(path.Join(aside, "heartbeat")))
	taken := shell.New("echo", LockTaken).
		And(shell.New("readlink", l.Current()).Quiet().Or(shell.New("echo"))).
		And(shell.New("ls", "-1", l.Releases()).Quiet().Or(shell.New("true")))
	held := shell.New("rm", "-rf", "--", aside).
		And(shell.New("test", "-d", dir)).
		And(shell.New("echo", LockHeld)).
		And(l.LockState())
	take := build.And(shown(shell.New("mv", "-T", "--", aside, dir))).And(taken)
	return shell.New("mkdir", "-p", l.State()).
		And(shell.New("rm", "-rf", "--", aside)).
		And(take.Or(held))
}

// ownsLock succeeds when the lock's details hold runID.
func (l Layout) ownsLock(runID string) shell.Command {
	return shell.New("grep", "-qxF", "--", "run_id="+runID, l.LockDetails()).Quiet()
}

// Heartbeat refreshes the heartbeat of runID's lock; it does nothing when
// the lock is not runID's.
func (l Layout) Heartbeat(runID string) shell.Command {
	tmp := l.LockHeartbeat() + ".new-" + runID
	return l.ownsLock(runID).
		And(heartbeatLine(tmp)).
		And(shell.New("mv", "--", tmp, l.LockHeartbeat())).
		Or(shell.New("true"))
}

// ReleaseLock removes the lock if runID holds it: it renames the lock
// aside, so that it disappears at once and whole, and removes that;
// otherwise it prints LockNotOurs and the details found, and fails.
func (l Layout) ReleaseLock(runID string) shell.Command {
	notOurs := shell.New("echo", LockNotOurs).
		And(shell.New("cat", l.LockDetails()).Quiet().Or(shell.New("true"))).
		And(shell.New("false"))
	aside := l.lockAside("released", runID)
	remove := shell.New("mv", "-T", "--", l.LockDir(), aside).And(shell.New("rm", "-rf", "--", aside)).
		Shown(shell.New("rm", "-rf", l.LockDir()).String())
	return l.ownsLock(runID).Or(notOurs).And(remove)
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
// is empty), for runID's deploy:unlock: it renames the directory aside
// (atomically, so what it prints is exactly what it removed), prints
// LockCleared and the details, and removes it. When the lock is gone, or
// is now another run's, it prints LockNone.
func (l Layout) ClearLock(holderID, runID string) shell.Command {
	dir, aside := l.LockDir(), l.lockAside("cleared", runID)
	move := shell.New("mv", "-T", "--", dir, aside)
	if holderID != "" {
		move = l.ownsLock(holderID).And(move)
	}
	clear := move.
		And(shell.New("echo", LockCleared)).
		And(shell.New("cat", path.Join(aside, "details")).Quiet().Or(shell.New("true"))).
		And(shell.New("rm", "-rf", "--", aside))
	return clear.Or(shell.New("echo", LockNone))
}
