package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The standard deploy tasks that run a command on every release host.
// Each is defined once, by its step (plan.go): the engine runs it alone,
// or fused into one script per host with its neighbours.
var (
	// CheckDirectories creates releases/, shared/ and the linked dirs in
	// shared/, and checks that every linked file exists in shared/ and
	// that current is not a directory.
	CheckDirectories = &Task{name: "deploy:check:directories", doc: "creates the directories and checks linked files",
		plan: func(_ context.Context, r *Run, _ *segment, _ *Task) (*step, error) {
			cmd := r.layout().CheckDirectories(r.Config.LinkedDirs, r.Config.LinkedFiles)
			// With the git strategy and more hosts than may fetch at once
			// (Git.MaxConcurrent), it also says where each mirror is: a
			// host whose mirror has the revision fetches nothing, so it
			// needs no turn (plan.go).
			hosts, _ := ReleaseHosts()(r)
			if g, isGit := strategyAs[Git](r.Config.Strategy); isGit && len(hosts) > g.maxConcurrent() {
				cmd = cmd.Then(r.layout().MirrorAt(r.Config.Branch))
			}
			return &step{
				cmd:  everywhere(cmd),
				opts: captured,
				// What done refuses: nothing after it runs.
				gate: script.Gate{RejectLines: []string{remote.CurrentIsDirectory}, RejectPrefixes: []string{remote.MissingPrefix}},
				done: func(_ context.Context, h *Host, out string, err error) error {
					if err != nil {
						return err
					}
					st := r.state.of(h)
					var missing []string
					for _, line := range strings.Split(out, "\n") {
						switch {
						case line == remote.MirrorExists:
							st.learned.mirrorExists = true
						case line == remote.CurrentIsDirectory:
							return fmt.Errorf("%s is a directory, not a symlink; move it away before deploying (nothing was changed)", r.CurrentPath())
						case strings.HasPrefix(line, remote.MissingPrefix):
							missing = append(missing, path.Join(r.SharedPath(), strings.TrimPrefix(line, remote.MissingPrefix)))
						case strings.HasPrefix(line, remote.MirrorAtPrefix):
							st.learned.mirrorAt = strings.TrimSpace(strings.TrimPrefix(line, remote.MirrorAtPrefix))
						}
					}
					if len(missing) > 0 {
						return fmt.Errorf("linked files missing from shared/: %s (create them on the server before deploying)", strings.Join(missing, ", "))
					}
					return nil
				},
			}, nil
		}}

	// SetPreviousRevision records the revision and release that current
	// points at before the deploy; the lock's answer, read under the lock,
	// usually told it already.
	SetPreviousRevision = &Task{name: "deploy:set_previous_revision", doc: "records the revision currently deployed",
		plan: func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
			if seg.has(Lock) {
				// The lock's answer says where current points; a host
				// whose answer did not (a backend that answers less) is
				// asked once the script is reported.
				return &step{finish: func(ctx context.Context, err error) error {
					if err != nil {
						return err
					}
					return r.plan.runAlone(ctx, t)
				}}, nil
			}
			cmd := r.layout().PreviousRevision()
			return &step{
				cmd:  func(h *Host) (shell.Command, bool) { return cmd, !r.state.of(h).learned.previousKnown },
				opts: captured,
				done: func(_ context.Context, h *Host, out string, err error) error {
					if err != nil {
						return err
					}
					link, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
					r.state.of(h).learned.previous = strings.TrimSpace(link)
					return nil
				},
			}, nil
		}}

	// NewReleasePath names the new release: the run's start time, UTC
	// %Y%m%d%H%M%S as Capistrano names it, unless a host already has a
	// release of that name or a later one (a deploy less than a second
	// ago, or a deployer whose clock was ahead of this machine's); then
	// one second after the latest. So the name is new on every host and
	// sorts after every release there, and rollback and cleanup, which go
	// by name, keep their order.
	//
	// On its own it runs no command: the lock listed the releases. In the
	// script that takes the lock and builds the release (withLock) it cannot
	// wait for that listing, so it names the release from the clock; each
	// host's script stops there when a release of that name, or of a later
	// one, exists (remote.CheckReleaseName), so that nothing is built under
	// a name that would not be the newest. When a host stopped (or its
	// lock's listing, read in the same script, shows such a release), the
	// script is cut after this step (segment.cutAfter), the releases built
	// under the name elsewhere are removed, and the release is named after
	// the latest and built in the next script.
	NewReleasePath = &Task{name: "deploy:new_release_path", doc: "names the new release",
		plan: func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
			if _, isGit := strategyAs[Git](r.Config.Strategy); seg.has(Lock) && (!isGit || !withLock(r, seg)) {
				return nil, errNotHere // nothing builds the release in this script: the name follows the lock's listing
			}
			if !seg.has(Lock) {
				return &step{local: func(context.Context) error {
					r.release.set(r.nextReleaseName())
					return nil
				}}, nil
			}
			name := remote.ReleaseNameAt(r.Started)
			check, err := r.layout().CheckReleaseName(name)
			if err != nil {
				return nil, err
			}
			r.release.set(name) // the steps after it build the release under it
			var mu sync.Mutex
			var refused []*Host
			return &step{
				cmd:  everywhere(check),
				opts: captured,
				gate: script.Gate{RejectLines: []string{remote.ReleaseNameTaken}},
				cuts: true,
				// The steps that await the run's go-ahead wait for the
				// name too (segment.decide): the lock's listing, read in
				// the same script, must show no release named as late
				// (finish cuts the script then). Called with seg.mu held.
				clears: func(h *Host, _ string) bool {
					lk := seg.orderedStep()
					if lk == len(seg.steps) {
						return true
					}
					out := string(seg.runs[h].res[lk].out)
					i := strings.Index(out, remote.LockTaken)
					if i < 0 {
						return true
					}
					return !slices.ContainsFunc(remote.ParseLockTaken(out[i+len(remote.LockTaken):]).Releases, func(rel string) bool { return rel >= name })
				},
				done: func(_ context.Context, h *Host, out string, err error) error {
					if err == nil && slices.Contains(strings.Split(out, "\n"), remote.ReleaseNameTaken) {
						mu.Lock()
						refused = append(refused, h)
						mu.Unlock()
					}
					return err
				},
				finish: func(ctx context.Context, err error) error {
					if err != nil {
						return err
					}
					for _, h := range seg.hosts {
						if newest := r.state.of(h).learned.newestRelease; newest >= name && !slices.Contains(refused, h) {
							refused = append(refused, h)
						}
					}
					if len(refused) == 0 {
						return nil
					}
					seg.cutAfter(t)
					if err := r.removeUnpublished(ctx); err != nil {
						return fmt.Errorf("removing the release %s built before %s refused its name: %w", name, refused[0], err)
					}
					for _, h := range r.hosts {
						r.state.of(h).learned.revisionWritten = false
					}
					next := r.nextReleaseName()
					r.release.set(next)
					r.console.Info("%s has a release named %s or later (a deployer's clock was ahead of this machine's): the new release is named %s instead",
						refused[0], name, next)
					return nil
				},
			}, nil
		}}

	// SetCurrentRevision writes REVISION and REVISION_TIME into the
	// release, where the strategy did not write them with its files.
	SetCurrentRevision = &Task{name: "deploy:set_current_revision", doc: "writes REVISION and REVISION_TIME",
		plan: func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
			if seg.has(GitCreateRelease) {
				return &step{}, nil // written with the release's files
			}
			release, err := r.runRelease(t)
			if err != nil {
				return nil, err
			}
			rev := r.Revision()
			if rev.SHA == "" {
				return nil, errors.New("no revision was resolved; the strategy must call deploylib.SetRevision")
			}
			cmd := remote.WriteRevision(release, rev.Recorded(), rev.Time)
			return &step{
				cmd:  func(h *Host) (shell.Command, bool) { return cmd, !r.state.of(h).learned.revisionWritten },
				done: failure,
			}, nil
		}}

	// SymlinkLinkedFiles links each linked file from shared/.
	SymlinkLinkedFiles = &Task{name: "deploy:symlink:linked_files", doc: "links the linked files into the release",
		plan: func(_ context.Context, r *Run, _ *segment, t *Task) (*step, error) {
			return linkStep(r, t, r.Config.LinkedFiles)
		}}
	// SymlinkLinkedDirs links each linked dir from shared/.
	SymlinkLinkedDirs = &Task{name: "deploy:symlink:linked_dirs", doc: "links the linked directories into the release",
		plan: func(_ context.Context, r *Run, _ *segment, t *Task) (*step, error) {
			return linkStep(r, t, r.Config.LinkedDirs)
		}}

	// Cleanup removes old and unfinished releases, keeping KeepReleases.
	// When the lock's answer listed the releases on every host, it removes
	// them in one command that runs only while this run holds the lock and
	// never removes the release current points at; else it lists them
	// first, then removes them in batches (so nothing may follow it in a
	// script). Removals cut short are finished by deploy:failed.
	Cleanup = &Task{name: "deploy:cleanup", doc: "removes old releases",
		plan: func(_ context.Context, r *Run, seg *segment, _ *Task) (*step, error) {
			fromLock := func(h *Host) (shell.Command, []string, bool) {
				if r.dryRun {
					return shell.Command{}, nil, false
				}
				return r.state.of(h).cleanupFromLock(r.layout(), r.ID, r.ReleaseName(), r.Config.KeepReleases)
			}
			for _, h := range seg.hosts {
				if _, _, known := fromLock(h); !known {
					return &step{
						cmd:  everywhere(r.layout().ListReleases()),
						opts: captured,
						// It removes, on h, the releases the listing says
						// to remove, in batches.
						done: func(ctx context.Context, h *Host, out string, err error) error {
							if err != nil || r.dryRun {
								return err // in a dry run nothing was listed
							}
							l, err := r.layout().ParseListing(strings.TrimSpace(out))
							if err != nil {
								return err
							}
							victims := l.CleanupCandidates(r.Config.KeepReleases, r.ReleaseName())
							sort.Strings(victims)
							st := r.state.of(h)
							for start := 0; start < len(victims); start += 100 {
								batch := victims[start:min(start+100, len(victims))]
								cmd, err := r.layout().RemoveReleases(batch)
								if err != nil {
									return err
								}
								st.removing = batch // finished by deploy:failed if cut short
								if err := h.ExecuteCommand(ctx, cmd); err != nil {
									return err
								}
								st.removing = nil
							}
							return nil
						},
						last: true,
					}, nil
				}
			}
			return removalStep(r.state, func(h *Host) (shell.Command, []string) {
				cmd, victims, _ := fromLock(h)
				return cmd, victims
			}), nil
		}}

	// LogRevision appends the deploy or rollback to revisions.log; a log
	// that cannot be written is a warning, not a failed deploy.
	LogRevision = &Task{name: "deploy:log_revision", doc: "appends to revisions.log",
		plan: func(_ context.Context, r *Run, _ *segment, t *Task) (*step, error) {
			if _, err := r.runRelease(t); err != nil {
				return nil, err
			}
			rev := r.Revision()
			line := remote.DeployLogLine(rev.Branch, rev.Recorded(), r.ReleaseName(), r.User)
			switch f := r.Config.RevisionLogMessage; {
			case r.rollsBack():
				line = remote.RollbackLogLine(r.User, r.ReleaseName())
			case f != nil:
				line = strings.ReplaceAll(f(rev, r.ReleaseName(), r.User), "\n", " ")
			}
			return &step{
				cmd:  everywhere(r.layout().AppendLog(line)),
				done: failure,
				finish: func(ctx context.Context, err error) error {
					if err != nil && ctx.Err() == nil {
						// The release is live: a revisions.log that cannot be
						// written (a directory, a full disk) is worth a
						// warning, not a failed deploy.
						r.console.Warn("revisions.log not updated: %v", err)
						return nil
					}
					return err
				},
			}, nil
		}}

	// SymlinkRelease switches current to the release on every host, all or
	// nothing: if any host fails, the hosts already switched are put back on
	// their previous release (switchBack), so the fleet never serves two
	// releases because of a failed deploy. It shares a script only with the
	// health check after it (alone, plan.go): every host must have its
	// release before any host switches, and no host may go on to what
	// follows publishing before every host switched and passed its check.
	// A run switches current only while it holds the deploy lock (lock.go).
	SymlinkRelease = &Task{name: "deploy:symlink:release", doc: "switches current to the release",
		plan: func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
			release, err := r.runRelease(t)
			if err != nil {
				return nil, err
			}
			cmd := r.layout().Switch(release, r.ID)
			fenced := r.layout().LockFence(r.ID).And(cmd)
			return &step{
				alone: true,
				cmd: func(h *Host) (shell.Command, bool) {
					if r.state.of(h).locked {
						return fenced, true
					}
					return cmd, true
				},
				sending: func(h *Host) { r.state.of(h).switchTried = true },
				done: func(_ context.Context, h *Host, _ string, err error) error {
					if err != nil {
						return err
					}
					r.state.of(h).switched = true
					return nil
				},
				finish: func(ctx context.Context, err error) error {
					if err == nil {
						return nil
					}
					if seg.fused() {
						// The health check may still run on the hosts that
						// switched: they go back once their scripts ended.
						<-seg.ended
					}
					return errors.Join(err, r.switchBack(ctx))
				},
			}, nil
		}}
)

// linkStep links names from shared/ into the release of the run.
func linkStep(r *Run, t *Task, names []string) (*step, error) {
	if len(names) == 0 {
		return &step{}, nil
	}
	release, err := r.runRelease(t)
	if err != nil {
		return nil, err
	}
	return &step{cmd: everywhere(r.layout().Link(release, names)), done: failure}, nil
}

// switchBack puts every switched host back on the release it served
// before this run (a host that had none loses current again), and says so
// per host. A host whose switch did not report back (connection lost,
// interrupted) is asked where current points, since the rename may have
// happened; a host that cannot be asked is reported as unknown. The
// release of a deploy is marked unfinished again, so that deploy:failed
// removes it.
func (r *Run) switchBack(ctx context.Context) error {
	ctx = contextWithoutCancel(ctx)
	deployTo, release := r.Config.DeployTo, r.ReleasePath()
	var hosts []*Host
	for _, h := range r.hosts {
		if st := r.state.of(h); st.switchTried && !st.switchedBack {
			hosts = append(hosts, h)
		}
	}
	var mu sync.Mutex
	var errs []error
	inParallel(hosts, func(_ int, h *Host) {
		st := r.state.of(h)
		if !st.switched {
			out, err := h.CaptureCommand(ctx, r.layout().PreviousRevision())
			if err != nil {
				st.unknown = "the switch did not report back and current could not be read: " + firstLine(err.Error())
				return
			}
			if link, _, _ := strings.Cut(out, "\n"); strings.TrimSpace(link) != release {
				return
			}
			st.switched = true
		}
		previous := st.learned.previous
		if previous != "" && !path.IsAbs(previous) {
			previous = path.Join(deployTo, previous) // a relative link, as readlink printed it
		}
		cmd := r.layout().Switch(previous, r.ID+"-back")
		what := "switched back to " + st.learned.previous
		if st.learned.previous == "" {
			cmd = r.layout().RemoveCurrent()
			what = "removed current again (there was no release before this run)"
		}
		if st.created && !r.rollsBack() {
			cmd = cmd.And(r.layout().MarkUnfinished(path.Base(release), r.ID))
		}
		if st.locked {
			cmd = r.layout().LockFence(r.ID).And(cmd)
		}
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: could not switch back, it still serves %s: %w", h, release, err))
			mu.Unlock()
			return
		}
		st.switched, st.switchedBack = false, true
		r.console.Warn("%s: %s, because publishing failed", h, what)
	})
	return errors.Join(errs...)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// cleanupFromLock returns the command removing, on the host, what
// deploy:cleanup removes, computed from the releases the lock's answer
// listed (taken as they are once this run's release is published), and
// those releases; known is false when the lock's answer did not list
// them. The command runs only while the run runID holds the lock (nothing
// else changed releases/ meanwhile) and refuses to remove the release
// current points at. release is the run's release, keep
// Config.KeepReleases; l is the run's layout.
func (st *hostState) cleanupFromLock(l remote.Layout, runID, release string, keep int) (cmd shell.Command, victims []string, known bool) {
	if st.learned.listing == nil || !st.switched {
		return shell.Command{}, nil, false
	}
	victims = st.learned.listing.Published(release).CleanupCandidates(keep, release)
	if len(victims) == 0 {
		return shell.Command{}, nil, true
	}
	sort.Strings(victims)
	cmd = l.LockFence(runID).And(l.NotCurrent(victims))
	for start := 0; start < len(victims); start += 100 {
		rm, err := l.RemoveReleases(victims[start:min(start+100, len(victims))])
		if err != nil {
			return shell.Command{}, nil, false
		}
		cmd = cmd.And(rm)
	}
	return cmd, victims, true
}

// removalStep is the step of a task that removes releases on each host
// with one command: removal gives h's command and the releases it removes
// (none: nothing is sent to h). Until h's answer says the command
// succeeded, those releases are recorded in h's state (states) as a
// removal that deploy:failed finishes if it was cut short
// (finishRemovals).
func removalStep(states hostStates, removal func(h *Host) (shell.Command, []string)) *step {
	return &step{
		cmd: func(h *Host) (shell.Command, bool) {
			cmd, victims := removal(h)
			return cmd, len(victims) > 0
		},
		sending: func(h *Host) {
			_, victims := removal(h)
			states.of(h).removing = victims
		},
		done: func(_ context.Context, h *Host, _ string, err error) error {
			if err != nil {
				return err
			}
			states.of(h).removing = nil
			return nil
		},
		settle: func(h *Host, _ string, err error) {
			if err == nil {
				states.of(h).removing = nil
			}
		},
	}
}

// finishRemovals completes, on every host, a removal of old releases that
// an interrupt or a lost reply cut short: those releases are already
// marked for removal and may be half gone, so they are removed whole, as
// the next cleanup would, rather than left for rollback to stumble on.
// The removal was refused, rather than cut short, when the lock was no
// longer this run's or current pointed at one of them: so it is fenced as
// the removal was, and never marks or removes the release current points
// at, nor anything while another run holds the lock. l is the run's
// layout, runID its ID.
func (s hostStates) finishRemovals(ctx context.Context, l remote.Layout, runID string) error {
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		st := s.of(h)
		if len(st.removing) == 0 {
			return nil
		}
		rm, err := l.RemoveReleases(st.removing)
		if err != nil {
			return err
		}
		cmd := l.NotCurrent(st.removing).And(rm)
		if st.locked {
			cmd = l.LockFence(runID).And(cmd)
		}
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			return err
		}
		st.removing = nil
		return nil
	})
}

// failed switches every host back when the health check was sent and did
// not pass everywhere, finishes a removal of old releases that was cut
// short, then removes the release this run created on every host where it
// was not published: a deploy's, or that of a task run on its own that
// creates one (deploy:updating). The unfinished marker holds the run id,
// so a release of another run is never removed.
func failed(ctx context.Context) (err error) {
	r := CurrentRun(ctx)
	// A check that never passed leaves the release unproven. Its own
	// failure switched back already; this is the run that stopped
	// (interrupted) between the switch's report and the check's, so that
	// nobody read the check's answer: every host goes back.
	if slices.ContainsFunc(r.hosts, func(h *Host) bool { st := r.state.of(h); return st.checking && !st.switchedBack }) {
		if back := r.switchBack(ctx); back != nil {
			defer func() { err = errors.Join(back, err) }()
		}
	}
	if err := r.state.finishRemovals(ctx, r.layout(), r.ID); err != nil {
		return err
	}
	if r.rollsBack() {
		return nil // the release is the one rolled back to, never this run's
	}
	return r.removeUnpublished(ctx)
}

// nextReleaseName is the name of the release this run creates: its start
// time (UTC %Y%m%d%H%M%S), or one second after the newest release a host
// listed under the lock when that is not older.
func (r *Run) nextReleaseName() string {
	name := remote.ReleaseNameAt(r.Started)
	for _, h := range r.hosts {
		if newest := r.state.of(h).learned.newestRelease; newest >= name {
			name = remote.ReleaseNameAfter(newest)
		}
	}
	return name
}

// removeUnpublished removes, on every release host where this run created
// its release and did not publish it, that release and its unfinished
// marker, never the release current points at.
func (r *Run) removeUnpublished(ctx context.Context) error {
	name := r.ReleaseName()
	if name == "" || !remote.IsReleaseName(name) {
		return nil
	}
	// Never the release current points at, whatever the bookkeeping says
	// (a switch that was cut off after its rename).
	cmd := r.layout().RemoveOwnRelease(name, r.ID)
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		st := r.state.of(h)
		if !st.created || st.switched {
			return nil
		}
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			return err
		}
		st.created = false
		return nil
	})
}

// runRelease returns the directory of the release this run creates or
// rolls back to. A task that works on it and runs without one (started on
// its own, with mage <stage> task <name>) is refused, since Capistrano's
// fallback, current, would make it act on the live release: the switch
// would point current at itself.
func (r *Run) runRelease(t *Task) (string, error) {
	name := r.ReleaseName()
	switch {
	case name == "":
		what := "this task"
		if t != nil {
			what = t.name
		}
		return "", fmt.Errorf("%s works on the release this run creates or rolls back to, and this run has none: run it within mage %s deploy or mage %s rollback", what, r.Stage.Name, r.Stage.Name)
	case !remote.IsReleaseName(name) && !r.dryRun:
		return "", fmt.Errorf("%q is not a release name (14 digits)", name)
	}
	return path.Join(r.ReleasesPath(), name), nil
}

// contextWithoutCancel keeps ctx's values (the run) but not its
// cancellation, for work that must finish after an interrupt.
func contextWithoutCancel(ctx context.Context) context.Context {
	if r := CurrentRun(ctx); r != nil {
		return r.intr.detached(ctx) // a second Ctrl-C still ends it (interrupt.go)
	}
	return context.WithoutCancel(ctx)
}
