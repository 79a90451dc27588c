package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The deploy lock keeps two runs from changing the same servers at once.
//
// It is <deploy_to>/.capstan/lock, a symbolic link to the holder's data
// directory .capstan/lock.d-<run id>, which holds a details file (run id,
// user, local host, pid, stage, task, branch, local start time and the
// server's time when taken) and a heartbeat file (the server's clock, in
// seconds). A run builds its data directory first and then makes the link
// with ln -sn, a symlink(2) that fails when a lock is there already: of
// two runs, exactly one succeeds, and a lock is never visible without its
// holder's details. deploy:check takes it on every release host at once,
// and the release is built in the same script; the first host by name
// decides between runs that start together: a run that did not get the
// lock there fails, naming the holder, removes the releases it built where
// it got the lock, and releases those locks; the run that got it waits, for at
// most lockContenderWait, for such a run to let go of the other hosts' (a
// lock taken about when this run started), and fails on an older one.
// Only the holder of the first host's lock ever waits, and for nothing
// that host's holder waits on, so runs cannot deadlock, and of two runs
// started together over the same hosts exactly one proceeds.
//
// The command that takes the lock also reads where current points, so the
// release a failed publish switches back to is the one current pointed at
// under the lock, never one read before another run's deploy.
//
// While it runs, the holder refreshes the heartbeat every
// lockHeartbeatEvery. A run releases the lock when it ends (success,
// failure or interrupt), on every host the lock command was sent to (its
// reply may have been lost), with its own time budget, removing it only if
// its details still hold the run's id; before switching current it checks
// the same way that the lock is still its own. A lock left by a killed run
// stays until deploy:unlock, which refuses a lock whose heartbeat is
// younger than lockStaleAfter, or that has no details, unless forced.

var (
	// Lock takes the deploy lock on every release host; deploy:check runs
	// it last. Every host is sent it at once (one round trip whatever the
	// number of hosts); the lock of the first host by name decides between
	// runs that start together: of two runs over the same hosts, exactly
	// one gets it, the other stops, releasing what it took, and the one
	// that got it takes the others' once the loser let go (plan.go,
	// segment.start; a task run on its own sends it to the first host
	// alone, then to the others). No run ever waits for the holder of the
	// first host's lock, so runs cannot deadlock. Two runs over different
	// but overlapping host sets (HOSTS filters) may both be refused;
	// neither changes anything. The answer also says, read under the lock,
	// where current points and which releases exist. Once taken, the
	// heartbeat starts; the run releases the lock wherever the command was
	// sent (its reply may have been lost).
	Lock = &Task{name: "deploy:lock", doc: "takes the deploy lock on every server",
		plan: func(_ context.Context, r *Run, _ *segment, _ *Task) (*step, error) {
			cmd := r.layout().TakeLock(r.ID, r.lock.details())
			return &step{
				cmd:     func(h *Host) (shell.Command, bool) { return cmd, !r.state.of(h).locked },
				opts:    captured,
				ordered: true,
				proceed: func(out string, _ error) bool { return !strings.Contains(out, remote.LockHeld) },
				// A lock held by another run stops the script there: a
				// declarative hook after deploy:check must not run.
				gate: script.Gate{RejectLines: []string{remote.LockHeld}},
				sending: func(h *Host) {
					r.lock.mu.Lock()
					r.state.of(h).lockSent = true // the release goes wherever this went
					r.lock.mu.Unlock()
				},
				unsent: func(h *Host) {
					r.lock.mu.Lock()
					if st := r.state.of(h); !st.locked {
						st.lockSent = false
					}
					r.lock.mu.Unlock()
				},
				done: func(_ context.Context, h *Host, out string, err error) error {
					return r.lock.result(h, strings.TrimSpace(out), err)
				},
				settle: func(h *Host, out string, err error) {
					if err == nil && strings.Contains(out, remote.LockTaken) {
						r.lock.result(h, strings.TrimSpace(out), nil)
					}
				},
				finish: func(_ context.Context, err error) error {
					r.lock.startHeartbeat()
					// A lock held elsewhere is the whole story: the first
					// host's, which decides, when it is held there.
					if le := decidingLockedError(r, err); le != nil {
						return le
					}
					return err
				},
			}, nil
		}}
	// Unlock clears a stale deploy lock on every release host, showing
	// whose it was (mage production deploy:unlock); it refuses a lock
	// whose holder may be alive unless FORCE=1.
	Unlock = &Task{name: "deploy:unlock", doc: "clears a stale deploy lock, showing whose it was", action: unlock}
)

const (
	// lockHeartbeatEvery is how often a holder refreshes its heartbeat.
	lockHeartbeatEvery = 30 * time.Second
	// lockStaleAfter is how long a lock must have shown no heartbeat
	// before deploy:unlock removes it without FORCE=1.
	lockStaleAfter = 2 * time.Minute
	// lockReleaseTimeout bounds the release of the lock after a run, on
	// a budget of its own: a slow deploy:failed hook cannot use it up.
	lockReleaseTimeout = 30 * time.Second
)

// lockKeeper owns the run's side of the deploy lock: the heartbeat and its
// rhythm, the lock's details, reading the answers of the commands that
// take and release it, and its release at the end of the run. It keeps a
// pointer to its run: the details describe the run (id, user, stage,
// task, branch, start), and whether a host's lock is taken or was sent
// for is part of the host's state in the run (hostState.locked,
// lockSent), which mu guards.
type lockKeeper struct {
	r     *Run
	mu    sync.Mutex
	every time.Duration // how often the heartbeat is refreshed
	beats chan struct{} // tests: a value after every heartbeat round
	stop  func()        // stops the heartbeat; nil when none runs
}

// stopHeartbeat stops the heartbeat, if one runs.
func (k *lockKeeper) stopHeartbeat() {
	if k.stop != nil {
		k.stop()
	}
}

// holdsSomewhere reports whether the lock command was sent to a host.
func (k *lockKeeper) holdsSomewhere() bool {
	sent, _ := k.hosts()
	return len(sent) > 0
}

// LockInfo is what a deploy lock's details file says about its holder.
// Fields the file does not have are empty.
type LockInfo struct {
	RunID     string
	User      string
	LocalHost string // the machine the holder runs on
	PID       string
	// Machine identifies the process space the holder's PID belongs to
	// ([machineIdentity]); "" when the holder could not tell, or wrote
	// its lock with an older Capstan.
	Machine  string
	Stage    string
	Task     string // what the holder runs: deploy, deploy:rollback, ...
	Branch   string
	Started  string // when the holder started, by its own clock (RFC 3339)
	LockedAt string // when the lock was taken, by the server's clock
	// Idle is how long ago the holder last refreshed its heartbeat, by
	// the server's clock; negative when unknown.
	Idle time.Duration
	// age is how long ago the lock was taken, by the server's clock;
	// negative when unknown.
	age time.Duration
}

// lockIdentity returns this machine's name and this process's ID, for the
// lock's details; tests fix them.
var lockIdentity = func() (host string, pid int) {
	host, _ = os.Hostname()
	return host, os.Getpid()
}

// lockMachine returns [machineIdentity] of this process, read once; tests
// replace it.
var lockMachine = sync.OnceValue(func() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	return machineIdentity(os.ReadFile, os.Readlink)
})

// machineIdentity returns an identifier of the space in which this
// process's PID means something, for the lock's details: deploy:unlock
// trusts "the holder's process is gone" only when the lock's identifier
// equals its own. A host name cannot serve: two laptops are both called
// MacBook-Pro, containers share the host's, and a process in another PID
// namespace is invisible to kill(pid, 0) even on the same kernel.
//
// On Linux, it is a hash (so that the machine id itself, which should not
// leak, is not written to servers) of three things that together say
// "same PID space": /etc/machine-id (or /var/lib/dbus/machine-id), which
// tells machines and most container images apart; the kernel's boot id,
// since PIDs of an earlier boot mean nothing; and the PID namespace of
// /proc/self/ns/pid, which tells apart containers that share a kernel (and
// perhaps a machine id baked into their image) but not their PIDs. A
// random client id kept in a file was the alternative, but one copied
// between machines or shared through a home directory would make them look
// alike, and it cannot tell PID namespaces apart.
//
// When any part cannot be read (no machine-id, /proc not mounted or of
// another PID namespace) it returns "", as lockMachine does on other
// systems (macOS, Windows, BSDs): the details then have no machine, a
// holder is always treated as running elsewhere, and only its heartbeat
// tells whether it is gone. readFile and readlink are os.ReadFile and
// os.Readlink, or a test's.
func machineIdentity(readFile func(string) ([]byte, error), readlink func(string) (string, error)) string {
	read := func(paths ...string) string {
		for _, p := range paths {
			if b, err := readFile(p); err == nil {
				if v := strings.TrimSpace(string(b)); v != "" {
					return v
				}
			}
		}
		return ""
	}
	id := read("/etc/machine-id", "/var/lib/dbus/machine-id")
	boot := read("/proc/sys/kernel/random/boot_id")
	ns, _ := readlink("/proc/self/ns/pid")
	if id == "" || boot == "" || !strings.HasPrefix(ns, "pid:[") {
		return ""
	}
	sum := sha256.Sum256([]byte("capstan-lock-machine\n" + id + "\n" + boot + "\n" + ns))
	return hex.EncodeToString(sum[:16])
}

// machineGrammar is what [machineIdentity] returns: 32 hex digits.
var machineGrammar = regexp.MustCompile(`^[0-9a-f]{32}$`)

// details returns the lines of the details file this run writes.
func (k *lockKeeper) details() []string {
	r := k.r
	host, pid := lockIdentity()
	task := ""
	if r.root != nil {
		task = r.root.name
	}
	fields := [][2]string{
		{"capstan_lock", "2"},
		{"run_id", r.ID},
		{"user", r.User},
		{"local_host", host},
		{"pid", strconv.Itoa(pid)},
		{"machine", lockMachine()},
		{"stage", r.Stage.Name},
		{"task", task},
		{"branch", r.Config.Branch},
		{"started", r.Started.UTC().Format(time.RFC3339)},
	}
	var lines []string
	for _, f := range fields {
		if f[0] == "machine" && f[1] == "" {
			continue // unknown: the holder counts as elsewhere
		}
		lines = append(lines, f[0]+"="+cleanLockValue(f[1]))
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

// parseLockInfo reads a details file, optionally followed by the
// heartbeat and server_now lines of lockStateCmd; the first value of a key
// wins.
func parseLockInfo(s string) LockInfo {
	var li LockInfo
	var heartbeat, now string
	fields := map[string]*string{
		"run_id": &li.RunID, "user": &li.User, "local_host": &li.LocalHost, "pid": &li.PID, "machine": &li.Machine,
		"stage": &li.Stage, "task": &li.Task, "branch": &li.Branch,
		"started": &li.Started, "locked_at": &li.LockedAt,
		"heartbeat": &heartbeat, "server_now": &now,
	}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if p := fields[k]; ok && p != nil && *p == "" {
			*p = cleanLockValue(v)
		}
	}
	li.Idle, li.age = -1, -1
	nowS, ok1 := epochSeconds(now)
	if t, err := time.Parse(time.RFC3339, li.LockedAt); ok1 && err == nil && t.Year() >= 1970 && t.Year() < 5000 && t.Unix() <= nowS {
		li.age = time.Duration(min(nowS-t.Unix(), maxLockIdle)) * time.Second
	}
	beatS, ok2 := epochSeconds(heartbeat)
	if !ok2 && heartbeat == "" {
		// A lock of an older Capstan has no heartbeat: its age counts.
		if t, err := time.Parse(time.RFC3339, li.LockedAt); err == nil && t.Year() >= 1970 && t.Year() < 5000 {
			beatS, ok2 = t.Unix(), true
		}
	}
	if ok1 && ok2 {
		li.Idle = time.Duration(min(max(0, nowS-beatS), maxLockIdle)) * time.Second
	}
	return li
}

// maxLockIdle caps a lock's idle time, in seconds, so that it stays a
// time.Duration: a heartbeat older than that is stale all the same.
const maxLockIdle = 100 * 365 * 24 * 3600

// epochSeconds reads a time in unix seconds as date +%s prints it: 1 to
// 11 decimal digits (until the year 5138). Anything else, a sign, spaces,
// a number that would overflow, is unreadable: the lock's age is then
// unknown, and its holder counts as alive.
func epochSeconds(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 11 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// known reports whether the lock had readable details.
func (li LockInfo) known() bool { return li.RunID != "" || li.User != "" }

// liveness tells whether the holder may still be running, and why. A
// fresh heartbeat (younger than lockStaleAfter) always means alive. A
// holder whose details name this process space ([machineIdentity], not
// the host name) is alive while its process exists, and gone once it
// does not and its heartbeat is stale or unknown. Any other holder (one
// elsewhere, one of an older Capstan that wrote no machine, one whose
// machine could not be told) is gone only once its heartbeat is stale; a
// lock without details, or whose age cannot be told, counts as alive.
func (li LockInfo) liveness() (alive bool, why string) {
	here := lockMachine()
	pid, err := strconv.Atoi(li.PID)
	local := here != "" && li.Machine == here && err == nil && pid > 0
	if local && processAlive(pid) {
		return true, "process " + li.PID + " on this machine, which took it, is still running"
	}
	switch {
	case !li.known():
		return true, "it has no readable details"
	case li.Idle >= 0 && li.Idle < lockStaleAfter:
		why := fmt.Sprintf("its holder showed a heartbeat %s ago (a lock is stale after %s without one)", li.Idle.Round(time.Second), lockStaleAfter)
		if local {
			why = "process " + li.PID + " on this machine, which took it, is gone, but " + why
		}
		return true, why
	case local:
		return false, "process " + li.PID + " on this machine, which took it, is gone"
	case li.Idle < 0:
		return true, "its age cannot be told"
	}
	return false, fmt.Sprintf("its holder has shown no heartbeat for %s", li.Idle.Round(time.Second))
}

// check returns a [remote.BadValueError] naming host ("" to leave it
// out) when a field of the
// lock's details that a command or this machine would use does not match
// its grammar: run_id (a path under .capstan/), pid (kill(2)) and machine.
func (li LockInfo) check(host string) error {
	if li.RunID != "" {
		if err := remote.CheckRunID(host, "the deploy lock's run_id", li.RunID); err != nil {
			return err
		}
	}
	if li.PID != "" {
		if n, err := strconv.Atoi(li.PID); err != nil || n <= 0 || strconv.Itoa(n) != li.PID {
			return &remote.BadValueError{Host: host, What: "the deploy lock's pid", Value: li.PID, Grammar: "a process id (a positive decimal number)"}
		}
	}
	if li.Machine != "" && !machineGrammar.MatchString(li.Machine) {
		return &remote.BadValueError{Host: host, What: "the deploy lock's machine", Value: li.Machine, Grammar: "a machine identity (32 hex digits)"}
	}
	return nil
}

// String describes the holder in one line.
func (li LockInfo) String() string {
	if !li.known() {
		return "an unknown run (the lock has no readable details)"
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
	s += ", " + what
	switch {
	case li.LockedAt != "":
		s += ", since " + li.LockedAt
	case li.Started != "":
		s += ", started " + li.Started
	}
	if li.Idle >= 0 {
		s += ", last heartbeat " + li.Idle.Round(time.Second).String() + " ago"
	}
	return s
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
	msg := fmt.Sprintf("%s: the deploy lock is held by %s. Nothing was changed. ", e.Host, e.Holder)
	alive, why := e.Holder.liveness()
	switch {
	case !e.Holder.known():
		return msg + fmt.Sprintf("If no run is deploying to this host, remove the lock with: FORCE=1 mage %s deploy:unlock", e.stage)
	case alive:
		return msg + fmt.Sprintf("That run may still be running (%s): wait for it to finish.", why)
	}
	return msg + fmt.Sprintf("That run is gone (%s): clear the lock with: mage %s deploy:unlock", why, e.stage)
}

// result reads the answer of the command taking the lock on h.
func (k *lockKeeper) result(h *Host, out string, err error) error {
	r := k.r
	st := r.state.of(h)
	if err != nil {
		return fmt.Errorf("taking the deploy lock: %w", err)
	}
	if r.dryRun {
		st.locked, st.learned.previousKnown = true, true
		return nil
	}
	if i := strings.Index(out, remote.LockHeld); i >= 0 {
		k.mu.Lock()
		st.lockSent = false // the reply says this run did not take it
		k.mu.Unlock()
		return &LockedError{Host: h.String(), Holder: parseLockInfo(out[i+len(remote.LockHeld):]), stage: r.Stage.Name}
	}
	st.locked = true
	// Where current points, read under the lock; without it (a
	// backend that answers nothing) deploy:set_previous_revision
	// reads it, still under the lock.
	if i := strings.Index(out, remote.LockTaken); i >= 0 {
		info := remote.ParseLockTaken(out[i+len(remote.LockTaken):])
		st.learned.previous, st.learned.previousKnown = info.Previous, true
		for _, name := range info.Releases {
			if name > st.learned.newestRelease {
				st.learned.newestRelease = name
			}
		}
		if info.Listed {
			// What deploy:cleanup needs, read under the lock.
			l := r.layout().LockListing(info)
			st.learned.listing = &l
		}
		if err := k.checkNewestRelease(h, st.learned.newestRelease); err != nil {
			return err
		}
	}
	return nil
}

// lockContenderWait bounds how long the run holding the first host's lock
// waits for a run that started with it to let go of another host's.
const lockContenderWait = 15 * time.Second

// lockContenderSlack is how much older than this run's lock command a
// lock may be and still count as a contender's: the server's clocks
// count whole seconds.
const lockContenderSlack = 2 * time.Second

// heldBy reads the answer of the command taking the lock: whom it names
// when another run holds the lock.
func heldBy(out string, err error) (LockInfo, bool) {
	i := strings.Index(out, remote.LockHeld)
	if err != nil || i < 0 {
		return LockInfo{Idle: -1, age: -1}, false
	}
	return parseLockInfo(out[i+len(remote.LockHeld):]), true
}

// waitOutContender asks h for the lock again, through take, while the
// run holding it there is a contender: one whose lock is about as old as
// this run's lock command (sent), which started with this run and, since
// this run holds first's lock, lost there and is letting go; or one
// whose details could not be read, as when h's first take failed by an
// instant (LockInfo{Idle: -1, age: -1}). It waits at
// most until sent+lockContenderWait. take returns whom h's answer names
// when the lock is held (held), and whether the take failed otherwise
// (failed). It returns when h's answer is another, or the wait is over;
// the caller reads h's last answer.
func (k *lockKeeper) waitOutContender(ctx context.Context, h, first *Host, holder LockInfo, sent time.Time, take func() (holder LockInfo, held, failed bool)) {
	deadline := sent.Add(lockContenderWait)
	wait := 50 * time.Millisecond
	failures := 0
	for said := false; ; wait = min(2*wait, time.Second) {
		// A lock without readable details is most likely one being
		// released (its link outlived its details by an instant) or
		// replaced: it is asked again, until the deadline. (A run writes
		// its details before it links its lock, so it stays so only when
		// made by hand, or by a Capstan before lock details.)
		contender := holder.age >= 0 && holder.age <= time.Since(sent)+lockContenderSlack
		if !contender && holder.known() || time.Now().Add(wait).After(deadline) {
			return // a lock older than this run, or held too long: h's answer stands
		}
		if !said {
			said = true
			k.r.console.Info("%s: waiting up to %s for the run that started with this one and did not get %s's deploy lock to let go of this one: %s",
				h, lockContenderWait, first, holder)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		held, failed := false, false
		if holder, held, failed = take(); held {
			continue
		}
		// The take can fail by an instant: the link was there for ln and
		// gone when the command looked for its holder. Asked again, a few
		// times; a failure that stays is the answer.
		if failed && failures < 3 {
			failures++
			holder = LockInfo{Idle: -1, age: -1}
			continue
		}
		return
	}
}

// decidingLockedError returns the [LockedError] among err's of the first
// release host by name, or else the first one, or nil.
func decidingLockedError(r *Run, err error) *LockedError {
	var found []*LockedError
	var walk func(error)
	walk = func(err error) {
		var le *LockedError
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		default:
			if errors.As(err, &le) {
				found = append(found, le)
			}
		}
	}
	walk(err)
	if len(found) == 0 {
		return nil
	}
	if hosts, _ := ReleaseHosts()(r); len(hosts) > 0 {
		first := slices.MinFunc(hosts, func(a, b *Host) int { return strings.Compare(a.Server.Host, b.Server.Host) })
		for _, le := range found {
			if le.Host == first.String() {
				return le
			}
		}
	}
	return found[0]
}

// checkNewestRelease fails, before anything changed, when the newest name
// in h's releases/ leaves no name for a new release and this run creates
// one. Releases are ordered by name (rollback goes back to the one before
// current, cleanup removes the first ones), so a new release must sort
// after every other one; a directory named 99999999999999, say, sorts
// after every release name there can be. It is not removed: it may be
// someone's, and only its owner can tell. A run that creates no release
// (a rollback) goes on: the directory does not change what it does.
func (k *lockKeeper) checkNewestRelease(h *Host, newest string) error {
	r := k.r
	if newest == "" || remote.HasReleaseNameAfter(newest) || r.root == nil {
		return nil
	}
	// By name: deploy:new_release_path's definition refers to this one
	// (an initialization cycle).
	if !slices.ContainsFunc(r.plan.flatten(r.root, map[*Task]bool{}, nil), func(t *Task) bool { return t != nil && t.name == "deploy:new_release_path" }) {
		return nil
	}
	dir := r.layout().Release(newest)
	return fmt.Errorf("%s: %s sorts after every release name a new release can have (releases are named UTC %%Y%%m%%d%%H%%M%%S and ordered by name, so a new release must sort after it); no release was made. If it is not a real release, move it out of releases/ on %s (mv %s %s) and deploy again",
		h, dir, h, dir, path.Join(r.layout().DeployTo, "not-a-release-"+newest))
}

// hosts returns the hosts the lock command was sent to, and whether this
// run holds the lock on any of them.
func (k *lockKeeper) hosts() (sent []*Host, held bool) {
	r := k.r
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, h := range r.hosts {
		if st := r.state[h]; st.lockSent || st.locked {
			sent = append(sent, h)
			held = held || st.locked
		}
	}
	return sent, held
}

// startHeartbeat refreshes the heartbeat of the lock on every host where
// this run holds it, every lockHeartbeatEvery, until the locks are
// released or the run ends.
func (k *lockKeeper) startHeartbeat() {
	r := k.r
	if r.dryRun || k.stop != nil {
		return
	}
	if _, held := k.hosts(); !held {
		return
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	k.stop = func() {
		once.Do(func() { close(stop) })
		<-done
	}
	cmd := r.layout().Heartbeat(r.ID)
	ctx := context.Background()
	go func() {
		defer close(done)
		tick := time.NewTicker(k.every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var locked []*Host
			for _, h := range r.hosts {
				if r.state.of(h).locked {
					locked = append(locked, h)
				}
			}
			hctx, cancel := context.WithTimeout(ctx, lockHeartbeatEvery)
			inParallel(locked, func(_ int, h *Host) {
				if _, err := h.runCommand(hctx, cmd, runOpts{hidden: true, capture: true}); err != nil {
					r.console.Log("WARN", fmt.Sprintf("%s: refreshing the deploy lock's heartbeat: %v", h, err))
				}
			})
			cancel()
			if k.beats != nil {
				select {
				case k.beats <- struct{}{}:
				case <-stop:
					return
				}
			}
		}
	}()
}

// release releases the lock on every host where this run holds it,
// or sent the command that takes it. A lock that is no longer this run's
// is left alone, with a warning.
func (k *lockKeeper) release(ctx context.Context) error {
	k.stopHeartbeat()
	hosts, _ := k.hosts()
	if len(hosts) == 0 {
		return nil
	}
	// The run's scratch space goes first: a switch cut short by Ctrl-C
	// leaves its directory.
	cmd := k.releaseCmd()
	var mu sync.Mutex
	var errs []error
	inParallel(hosts, func(_ int, h *Host) {
		out, err := h.CaptureCommand(ctx, cmd)
		mu.Lock()
		defer mu.Unlock()
		if err := k.released(h, out, err); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// releaseCmd releases this run's lock (release).
func (k *lockKeeper) releaseCmd() shell.Command {
	r := k.r
	return r.layout().ReleaseLock(r.ID)
}

// released reads the answer of the command releasing the lock on h.
func (k *lockKeeper) released(h *Host, out string, err error) error {
	r := k.r
	st := r.state.of(h)
	k.mu.Lock()
	defer k.mu.Unlock()
	held := st.locked
	switch {
	case err == nil:
		st.locked, st.lockSent = false, false
	case strings.Contains(out, remote.LockNotOurs):
		st.locked, st.lockSent = false, false
		if !held {
			return nil // the lock command's reply was lost, and it had not taken the lock
		}
		if now := parseLockInfo(out[strings.Index(out, remote.LockNotOurs)+len(remote.LockNotOurs):]); now.RunID != "" {
			r.console.Warn("%s: the deploy lock is no longer this run's (now held by %s); left it alone", h, now)
		} else {
			r.console.Warn("%s: the deploy lock was already gone (cleared with deploy:unlock?)", h)
		}
	default:
		return fmt.Errorf("releasing the deploy lock: %w\nit still holds this run's id (%s); once this run has ended, clear it with: FORCE=1 mage %s deploy:unlock", err, r.ID, r.Stage.Name)
	}
	return nil
}

// releaseStep releases the lock at the end of the script that ends the
// run, as release would right after; a release that fails there is
// left to release, which tries again and reports it.
func (k *lockKeeper) releaseStep(seg *segment) *step {
	r, cmd := k.r, k.releaseCmd()
	takes := seg.has(Lock)
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			k.mu.Lock()
			defer k.mu.Unlock()
			st := r.state[h]
			return cmd, takes || st.locked || st.lockSent
		},
		opts: captured,
		sending: func(*Host) {
			k.stopHeartbeat()
		},
		done: func(_ context.Context, h *Host, out string, err error) error {
			k.released(h, strings.TrimSpace(out), err) // else release tries again
			return nil
		},
		settle: func(h *Host, out string, err error) {
			k.released(h, strings.TrimSpace(out), err)
		},
	}
}

// unlock is deploy:unlock: on every release host it shows the lock and
// removes it, unless its holder may be alive (a recent heartbeat, a live
// process on this machine, or no details), which only FORCE=1 overrides.
// It removes exactly the lock it showed: one taken meanwhile by another
// run stays.
func unlock(ctx context.Context) error {
	r := CurrentRun(ctx)
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, r.layout().ShowLock())
		if err != nil {
			return fmt.Errorf("reading the deploy lock: %w", err)
		}
		if r.dryRun {
			return nil
		}
		i := strings.Index(out, remote.LockHeld)
		if i < 0 {
			r.console.Info("%s: no deploy lock", h)
			return nil
		}
		li := parseLockInfo(out[i+len(remote.LockHeld):])
		holder := li.RunID
		if err := li.check(""); err != nil { // On names the host
			// Details that are not what Capstan writes: never used in
			// a command. FORCE=1 removes the lock itself, not the
			// directory its run_id would name.
			if !r.env.force {
				return fmt.Errorf("%w. Nothing was removed. Look at %s; to remove the lock alone (not what its details name), run: FORCE=1 mage %s deploy:unlock", err, r.layout().LockDir(), r.Stage.Name)
			}
			r.console.Warn("%s: %v; removing the lock alone (its data directory stays)", h, err)
			holder = ""
		} else if alive, why := li.liveness(); alive && !r.env.force {
			return fmt.Errorf("the deploy lock is held by %s, and that run may be alive: %s. Nothing was removed. If you are sure it is gone, run: FORCE=1 mage %s deploy:unlock", li, why, r.Stage.Name)
		}
		cmd, err := r.layout().ClearLock(holder, r.ID)
		if err != nil {
			return fmt.Errorf("clearing the deploy lock: %w", err)
		}
		out, err = h.CaptureCommand(ctx, cmd)
		if err != nil {
			return fmt.Errorf("clearing the deploy lock: %w", err)
		}
		j := strings.Index(out, remote.LockCleared)
		if j < 0 {
			r.console.Info("%s: the deploy lock of %s is gone already; nothing removed", h, li)
			return nil
		}
		r.console.Info("%s: removed the deploy lock held by %s", h, parseLockInfo(out[j+len(remote.LockCleared):]))
		return nil
	})
}
