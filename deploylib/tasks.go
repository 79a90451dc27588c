package deploylib

import (
	"io"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// The standard deploy tasks that run a command on every release host.
// Each is defined once, by its step (plan.go): the engine runs it alone,
// or fused into one script per host with its neighbours.
var (
	// CheckDirectories creates releases/, shared/ and the linked dirs in
	// shared/, and checks that every linked file exists in shared/ and
	// that current is not a directory.
	CheckDirectories = engine.CheckDirectories
	// SetPreviousRevision records the revision and release that current
	// points at before the deploy; the lock's answer, read under the lock,
	// usually told it already.
	SetPreviousRevision = engine.SetPreviousRevision
	// NewReleasePath names the new release: the run's start time, UTC
	// %Y%m%d%H%M%S as Capistrano names it, unless a host already has a
	// release of that name or a later one (a deploy less than a second
	// ago, or a deployer whose clock was ahead of this machine's); then
	// one second after the latest. So the name is new on every host and
	// sorts after every release there, and rollback and cleanup, which go
	// by name, keep their order. It runs no command.
	NewReleasePath = engine.NewReleasePath
	// SetCurrentRevision writes REVISION and REVISION_TIME into the
	// release, where the strategy did not write them with its files.
	SetCurrentRevision = engine.SetCurrentRevision
	// SymlinkLinkedFiles links each linked file from shared/.
	SymlinkLinkedFiles = engine.SymlinkLinkedFiles
	// SymlinkLinkedDirs links each linked dir from shared/.
	SymlinkLinkedDirs = engine.SymlinkLinkedDirs
	// Cleanup removes old and unfinished releases, keeping KeepReleases.
	// When the lock's answer listed the releases on every host, it removes
	// them in one command that runs only while this run holds the lock and
	// never removes the release current points at; else it lists them
	// first, then removes them in batches (so nothing may follow it in a
	// script). Removals cut short are finished by deploy:failed.
	Cleanup = engine.Cleanup
	// LogRevision appends the deploy or rollback to revisions.log; a log
	// that cannot be written is a warning, not a failed deploy.
	LogRevision = engine.LogRevision
	// SymlinkRelease switches current to the release on every host, all or
	// nothing: if any host fails, the hosts already switched are put back on
	// their previous release (switchBack), so the fleet never serves two
	// releases because of a failed deploy. It never shares a script: every
	// host must have its release before any host switches, and no host may
	// go on before every host switched. A run switches current only while it
	// holds the deploy lock (lock.go).
	SymlinkRelease = engine.SymlinkRelease
)

var (
	// Lock takes the deploy lock on every release host; deploy:check runs
	// it last. The hosts are ordered by name; the lock of the first one
	// decides between runs that start together (of two runs over the same
	// hosts, exactly one gets it, and the other stops there, holding
	// nothing), so the other hosts are then locked in parallel, keeping
	// the cost of locking at two round trips whatever the number of hosts.
	// No run ever waits for a lock, so runs cannot deadlock. Two runs over
	// different but overlapping host sets (HOSTS filters) may both be
	// refused; neither changes anything. The answer also says, read under
	// the lock, where current points and which releases exist. Once taken,
	// the heartbeat starts; the run releases the lock wherever the command
	// was sent (its reply may have been lost).
	Lock = engine.Lock
	// Unlock clears a stale deploy lock on every release host, showing
	// whose it was (mage production deploy:unlock); it refuses a lock
	// whose holder may be alive unless FORCE=1.
	Unlock = engine.Unlock
)

// LockInfo is what a deploy lock's details file says about its holder.
// Fields the file does not have are empty.
type LockInfo = engine.LockInfo

// LockedError reports that another run holds the deploy lock. The run that
// gets it changed nothing and runs no deploy:failed hooks.
type LockedError = engine.LockedError

// ErrNoPreviousRelease is returned when a rollback has no older finished
// release to go back to.
var ErrNoPreviousRelease = engine.ErrNoPreviousRelease

var (
	// RevertRelease chooses the release to roll back to: every release
	// host lists its releases (under the lock, in the lock's script), and
	// they must agree on the finished release before current
	// (ROLLBACK_RELEASE picks another).
	RevertRelease = engine.RevertRelease
	// CleanupRollback archives the release each host rolled away from,
	// when it is newer than the target, and removes it (Capistrano's
	// rolled-back-release-<name>.tar.gz). Only release names are ever
	// removed: a hand-made releases/hotfix that was current stays where it
	// is.
	CleanupRollback = engine.CleanupRollback
)

// The standard tasks. Each is a Go value, so Before and After can hang a
// hook on any of them. The deploy and rollback flows are trees of these
// tasks; mage flow deploy prints the tree with every hook.
var (
	// Deploy is the deploy flow: Capistrano's eight phases in order.
	Deploy = engine.Deploy
	// Rollback is the rollback flow (deploy:rollback).
	// Its steps are set in init: several definitions ask whether the run
	// rolls back, which refers to Rollback (an initialization cycle).
	Rollback = engine.Rollback
	// Starting makes sure everything is ready (checks, previous revision).
	Starting = engine.Starting
	// Started is a hook point after starting.
	Started = engine.Started
	// Updating creates the new release on every server.
	Updating = engine.Updating
	// Updated is a hook point after the release is complete but not live.
	Updated = engine.Updated
	// Publishing switches current to the release, then checks its health
	// when a health check is configured.
	Publishing = engine.Publishing
	// Published is a hook point after current switched.
	Published = engine.Published
	// Finishing cleans up after a deploy.
	Finishing = engine.Finishing
	// Finished is the last phase; it logs the revision.
	Finished = engine.Finished
	// Reverting picks the release to roll back to.
	Reverting = engine.Reverting
	// Reverted is a hook point after the rollback target is chosen.
	Reverted = engine.Reverted
	// FinishingRollback cleans up after a rollback.
	FinishingRollback = engine.FinishingRollback
	// Failed runs when any task of a deploy or rollback fails: it removes
	// the half-built release; hang notifications on it.
	Failed = engine.Failed
	// Check verifies the servers are ready: source access, directories,
	// linked files; the deploy lock (lock.go) is taken last, once the
	// checks passed.
	Check = engine.Check
	// SymlinkShared links the linked files and dirs into the release.
	SymlinkShared = engine.SymlinkShared
)

// PrintTasks writes every task a run can start, with the first sentence of
// its doc, grouped: the deploy flow and the rollback flow in the order they
// run their tasks (with the team tasks hung on them as hooks, under
// [before] and [after]), deploy:failed, the standard tasks no flow runs
// with this configuration, and the team's own tasks made with [NewTask],
// with where they hang. It is the tasks target (Capistrano's cap -T):
// mage tasks, or mage production tasks for a stage's strategy. mage -l
// lists only mage targets; mage flow deploy shows every hook but no doc.
func PrintTasks(w io.Writer) error { return engine.PrintTasks(w) }
