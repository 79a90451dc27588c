package deploylib

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The steps of the standard tasks that can share a script (plan.go). Each
// runs the same command and reads its answer with the same code as the
// task's action, which runs it on its own (a dry run, a task invoked by
// hand, one next to hooks on both sides).

// plans are the tasks that have a step; the others always run on their own.
var plans map[*Task]stepBuilder

func init() {
	plans = map[*Task]stepBuilder{
		GitCheck:            planGitCheck,
		CheckDirectories:    planCheckDirectories,
		Lock:                planLock,
		SetPreviousRevision: planSetPreviousRevision,
		NewReleasePath:      planNewReleasePath,
		GitClone:            planGitClone,
		GitUpdate:           planGitUpdate,
		GitCreateRelease:    planGitCreateRelease,
		SetCurrentRevision:  planSetCurrentRevision,
		SymlinkLinkedFiles: func(ctx context.Context, r *Run, seg *segment) (*step, bool) {
			return planLinked(r, SymlinkLinkedFiles, r.Config.LinkedFiles)
		},
		SymlinkLinkedDirs: func(ctx context.Context, r *Run, seg *segment) (*step, bool) {
			return planLinked(r, SymlinkLinkedDirs, r.Config.LinkedDirs)
		},
		Cleanup:     planCleanup,
		LogRevision: planLogRevision,
	}
}

// everywhere runs c on every host of the step.
func everywhere(c shell.Command) func(*Host) (shell.Command, bool) {
	return func(*Host) (shell.Command, bool) { return c, true }
}

// failure is the done of a step whose command's failure is the task's.
func failure(_ context.Context, _ *Host, _ string, err error) error { return err }

var captured = runOpts{hidden: true, capture: true}

func planGitCheck(_ context.Context, r *Run, _ *segment) (*step, bool) {
	var mu sync.Mutex
	listed := map[*Host]string{}
	return &step{
		cmd:  everywhere(remote.GitCheck(r.Config.RepoURL, r.Config.Branch)),
		opts: captured,
		gate: shell.Gate{NonEmpty: true}, // else the branch does not exist
		done: func(_ context.Context, h *Host, out string, err error) error {
			out = strings.TrimSpace(out)
			mu.Lock()
			listed[h] = out
			mu.Unlock()
			return r.gitCheckResult(out, err)
		},
		finish: func(_ context.Context, err error) error {
			if err == nil {
				r.pinRevision(listed)
			}
			return err
		},
	}, true
}

func planCheckDirectories(_ context.Context, r *Run, _ *segment) (*step, bool) {
	return &step{
		cmd:  everywhere(r.checkDirectoriesCmd()),
		opts: captured,
		// What checkDirectoriesResult refuses: nothing after it runs.
		gate: shell.Gate{RejectLines: []string{remote.CurrentIsDirectory}, RejectPrefixes: []string{remote.MissingPrefix}},
		done: func(_ context.Context, h *Host, out string, err error) error {
			if err != nil {
				return err
			}
			return r.checkDirectoriesResult(h, out)
		},
	}, true
}

// planLock takes the lock as takeLock does: on the first host by name
// first, then, unless it is held there, on the others at once.
func planLock(_ context.Context, r *Run, _ *segment) (*step, bool) {
	cmd := r.layout().TakeLock(r.ID, r.lockDetailsFor())
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			return cmd, !r.hostState(h).locked
		},
		opts:    captured,
		ordered: true,
		proceed: func(out string, _ error) bool { return !strings.Contains(out, remote.LockHeld) },
		sending: func(h *Host) {
			r.mu.Lock()
			r.hostState(h).lockSent = true // the release goes wherever this went
			r.mu.Unlock()
		},
		unsent: func(h *Host) {
			r.mu.Lock()
			if st := r.hostState(h); !st.locked {
				st.lockSent = false
			}
			r.mu.Unlock()
		},
		done: func(_ context.Context, h *Host, out string, err error) error {
			return r.lockResult(h, strings.TrimSpace(out), err)
		},
		settle: func(h *Host, out string, err error) {
			if err == nil && strings.Contains(out, remote.LockTaken) {
				r.lockResult(h, strings.TrimSpace(out), nil)
			}
		},
		finish: func(_ context.Context, err error) error {
			r.startHeartbeat()
			// A lock held elsewhere is the whole story (takeLock).
			var le *LockedError
			if errors.As(err, &le) {
				return le
			}
			return err
		},
	}, true
}

func planSetPreviousRevision(_ context.Context, r *Run, seg *segment) (*step, bool) {
	if seg.has(Lock) {
		return nil, false // the lock's answer says where current points
	}
	cmd := r.layout().PreviousRevision()
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			return cmd, !r.hostState(h).learned.previousKnown
		},
		opts: captured,
		done: func(_ context.Context, h *Host, out string, err error) error {
			if err != nil {
				return err
			}
			link, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
			r.hostState(h).learned.previous = strings.TrimSpace(link)
			return nil
		},
	}, true
}

func planNewReleasePath(_ context.Context, _ *Run, seg *segment) (*step, bool) {
	if seg.has(Lock) {
		return nil, false // the name follows the releases the lock listed
	}
	return &step{local: newReleasePath}, true
}

func planGitClone(_ context.Context, r *Run, seg *segment) (*step, bool) {
	if seg.has(CheckDirectories) || r.refuseStandaloneCreate() != nil {
		return nil, false // it tells where the mirror exists
	}
	g, _ := strategyAs[Git](r.Config.Strategy)
	cmd := r.layout().GitClone(r.Config.RepoURL, g.ShallowClone)
	noMirror := func(h *Host) bool { return !r.hostState(h).learned.mirrorExists }
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			return cmd, noMirror(h)
		},
		done:      failure,
		needsTurn: noMirror,
		turns:     g.maxConcurrent(),
	}, true
}

func planGitUpdate(_ context.Context, r *Run, seg *segment) (*step, bool) {
	if seg.has(GitCheck) || seg.has(CheckDirectories) || r.refuseStandaloneCreate() != nil {
		return nil, false // they pin the revision and say where each mirror is
	}
	g, _ := strategyAs[Git](r.Config.Strategy)
	hosts := seg.hosts
	var mu sync.Mutex
	resolved := make(map[*Host]string, len(hosts))
	return &step{
		cmd:  everywhere(r.gitUpdateCmd()),
		opts: runOpts{capture: true},
		done: func(_ context.Context, h *Host, out string, err error) error {
			mu.Lock()
			resolved[h] = lastLine(out)
			mu.Unlock()
			return err
		},
		finish: func(ctx context.Context, err error) error {
			if err != nil {
				return err
			}
			return r.setResolved(ctx, hosts, resolved)
		},
		// A host whose mirror is at the pinned revision fetches nothing.
		needsTurn: func(h *Host) bool {
			pin := r.pinnedRevision()
			return pin == "" || r.hostState(h).learned.mirrorAt != pin
		},
		turns: g.maxConcurrent(),
	}, true
}

func planGitCreateRelease(_ context.Context, r *Run, seg *segment) (*step, bool) {
	release, err := r.runRelease(GitCreateRelease)
	if err != nil {
		return nil, false // the action says why
	}
	var sha string
	var revision shell.Command
	switch rev, pin := r.Revision(), r.pinnedRevision(); {
	case seg.has(GitUpdate) && pin != "":
		// The same script fetches: the commit time comes from the mirror.
		sha, revision = pin, r.layout().WriteRevisionFromMirror(release, pin)
	case seg.has(GitUpdate) || rev.SHA == "":
		return nil, false // the revision is git:update's answer
	default:
		sha, revision = rev.SHA, remote.WriteRevision(release, rev.Recorded(), rev.Time)
	}
	return &step{
		cmd: everywhere(r.createReleaseCmd(release, sha, revision)),
		sending: func(h *Host) {
			r.hostState(h).created = true
		},
		done: func(_ context.Context, h *Host, _ string, err error) error {
			if err != nil {
				return err
			}
			r.hostState(h).learned.revisionWritten = true
			return nil
		},
		settle: func(h *Host, _ string, err error) {
			if err == nil {
				r.hostState(h).learned.revisionWritten = true
			}
		},
	}, true
}

func planSetCurrentRevision(_ context.Context, r *Run, seg *segment) (*step, bool) {
	if seg.has(GitCreateRelease) {
		return &step{}, true // written with the release's files
	}
	release, err := r.runRelease(SetCurrentRevision)
	rev := r.Revision()
	if err != nil || rev.SHA == "" {
		return nil, false // the action says why
	}
	cmd := remote.WriteRevision(release, rev.Recorded(), rev.Time)
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			return cmd, !r.hostState(h).learned.revisionWritten
		},
		done: failure,
	}, true
}

func planLinked(r *Run, t *Task, names []string) (*step, bool) {
	if len(names) == 0 {
		return &step{}, true
	}
	release, err := r.runRelease(t)
	if err != nil {
		return nil, false
	}
	return &step{cmd: everywhere(r.layout().Link(release, names)), done: failure}, true
}

// planCleanup removes what cleanup removes, computed from the releases the
// lock's answer listed; without that answer, it lists them, and removes
// after the script (so nothing may follow it there).
func planCleanup(_ context.Context, r *Run, seg *segment) (*step, bool) {
	for _, h := range seg.hosts {
		if _, _, known := r.cleanupFromLock(h); !known {
			return &step{
				cmd:  everywhere(r.layout().ListReleases()),
				opts: captured,
				done: func(ctx context.Context, h *Host, out string, err error) error {
					if err != nil {
						return err
					}
					return r.cleanupListed(ctx, h, strings.TrimSpace(out))
				},
				last: true,
			}, true
		}
	}
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			cmd, victims, _ := r.cleanupFromLock(h)
			return cmd, len(victims) > 0
		},
		sending: func(h *Host) {
			_, victims, _ := r.cleanupFromLock(h)
			r.hostState(h).removing = victims // finished by deploy:failed if cut short
		},
		done: func(_ context.Context, h *Host, _ string, err error) error {
			if err != nil {
				return err
			}
			r.hostState(h).removing = nil
			return nil
		},
		settle: func(h *Host, _ string, err error) {
			if err == nil {
				r.hostState(h).removing = nil
			}
		},
	}, true
}

func planLogRevision(_ context.Context, r *Run, _ *segment) (*step, bool) {
	if _, err := r.runRelease(LogRevision); err != nil {
		return nil, false
	}
	return &step{
		cmd:    everywhere(r.layout().AppendLog(r.logRevisionLine())),
		done:   failure,
		finish: r.logRevisionDone,
	}, true
}

// releaseStep releases the lock at the end of the script that ends the
// run, as releaseLocks would right after; a release that fails there is
// left to releaseLocks, which tries again and reports it.
func (r *Run) releaseStep(seg *segment) *step {
	cmd := r.releaseLockCmd()
	takes := seg.has(Lock)
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			st := r.state[h]
			return cmd, takes || st.locked || st.lockSent
		},
		opts: captured,
		sending: func(*Host) {
			if r.stopHeartbeat != nil {
				r.stopHeartbeat()
			}
		},
		done: func(_ context.Context, h *Host, out string, err error) error {
			r.lockReleased(h, strings.TrimSpace(out), err) // else releaseLocks tries again
			return nil
		},
		settle: func(h *Host, out string, err error) {
			r.lockReleased(h, strings.TrimSpace(out), err)
		},
	}
}
