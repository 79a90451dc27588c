package deploylib

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// The actions of the standard deploy tasks.

func checkDirectories(ctx context.Context) error {
	r := CurrentRun(ctx)
	cmd := checkDirectoriesCmd(r.Config.DeployTo, r.Config.LinkedDirs, r.Config.LinkedFiles)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			return err
		}
		var missing []string
		for _, line := range strings.Split(out, "\n") {
			switch {
			case line == "current-is-directory":
				return fmt.Errorf("%s is a directory, not a symlink; move it away before deploying (nothing was changed)", r.CurrentPath())
			case strings.HasPrefix(line, "missing "):
				missing = append(missing, path.Join(r.SharedPath(), strings.TrimPrefix(line, "missing ")))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("linked files missing from shared/: %s (create them on the server before deploying)", strings.Join(missing, ", "))
		}
		return nil
	})
}

func setPreviousRevision(ctx context.Context) error {
	r := CurrentRun(ctx)
	cmd := previousRevisionCmd(r.Config.DeployTo)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			return err
		}
		link, _, _ := strings.Cut(out, "\n")
		r.hostState(h).previous = strings.TrimSpace(link)
		return nil
	})
}

func newReleasePath(ctx context.Context) error {
	r := CurrentRun(ctx)
	r.setRelease(ReleaseNameAt(r.Started))
	return nil
}

func setCurrentRevision(ctx context.Context) error {
	r := CurrentRun(ctx)
	rev := r.Revision()
	if rev.SHA == "" {
		return errors.New("no revision was resolved; the strategy must call deploylib.SetRevision")
	}
	cmd := writeRevisionCmd(r.ReleasePath(), rev)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		return h.ExecuteCommand(ctx, cmd)
	})
}

func symlinkLinkedFiles(ctx context.Context) error {
	return symlinkLinked(ctx, CurrentRun(ctx).Config.LinkedFiles)
}

func symlinkLinkedDirs(ctx context.Context) error {
	return symlinkLinked(ctx, CurrentRun(ctx).Config.LinkedDirs)
}

func symlinkLinked(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	r := CurrentRun(ctx)
	cmd := linkCmd(r.ReleasePath(), r.SharedPath(), names)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		return h.ExecuteCommand(ctx, cmd)
	})
}

// symlinkRelease switches current on every host. If any host fails, the
// hosts already switched are put back on their previous release, so the
// fleet never serves two releases because of a failed deploy.
func symlinkRelease(ctx context.Context) error {
	r := CurrentRun(ctx)
	release := r.ReleasePath()
	cmd := switchCmd(r.Config.DeployTo, release, r.ID)
	err := On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			return err
		}
		r.hostState(h).switched = true
		return nil
	})
	if err == nil {
		return nil
	}
	return errors.Join(err, r.switchBack(ctx))
}

// switchBack puts every switched host back on the release it served
// before this run, and says so per host.
func (r *Run) switchBack(ctx context.Context) error {
	ctx = contextWithoutCancel(ctx)
	var errs []error
	for _, h := range r.hosts {
		st := r.hostState(h)
		if !st.switched {
			continue
		}
		if st.previous == "" {
			r.console.Warn("%s: switched to the new release and had no previous release to go back to", h)
			continue
		}
		if err := h.ExecuteCommand(ctx, switchCmd(r.Config.DeployTo, st.previous, r.ID+"-back")); err != nil {
			errs = append(errs, fmt.Errorf("%s: could not switch back to %s: %w", h, st.previous, err))
			continue
		}
		st.switched = false
		r.console.Warn("%s: switched back to %s because publishing failed on another host", h, st.previous)
	}
	return errors.Join(errs...)
}

func cleanup(ctx context.Context) error {
	r := CurrentRun(ctx)
	deployTo := r.Config.DeployTo
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, listReleasesCmd(deployTo))
		if err != nil {
			return err
		}
		l, err := parseListing(out, deployTo)
		if err != nil {
			return err
		}
		victims := l.cleanupCandidates(r.Config.KeepReleases, r.ReleaseName())
		if len(victims) == 0 {
			return nil
		}
		sort.Strings(victims)
		for start := 0; start < len(victims); start += 100 {
			cmd, err := removeReleasesCmd(deployTo, victims[start:min(start+100, len(victims))])
			if err != nil {
				return err
			}
			if err := h.ExecuteCommand(ctx, cmd); err != nil {
				return err
			}
		}
		return nil
	})
}

func logRevision(ctx context.Context) error {
	r := CurrentRun(ctx)
	var line string
	if r.root == Rollback {
		line = rollbackLogLine(r.User, r.ReleaseName())
	} else {
		rev := r.Revision()
		line = deployLogLine(rev.Branch, rev.SHA, r.ReleaseName(), r.User)
		if f := r.Config.RevisionLogMessage; f != nil {
			line = strings.ReplaceAll(f(rev, r.ReleaseName(), r.User), "\n", " ")
		}
	}
	cmd := logLineCmd(r.Config.DeployTo, line)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		return h.ExecuteCommand(ctx, cmd)
	})
}

// failed removes the release this run created on every host where it was
// not published. The unfinished marker holds the run id, so a release of
// another run is never removed.
func failed(ctx context.Context) error {
	r := CurrentRun(ctx)
	if r.root != Deploy {
		return nil
	}
	name := r.ReleaseName()
	if name == "" || !IsReleaseName(name) {
		return nil
	}
	cmd := removeOwnReleaseCmd(r.Config.DeployTo, name, r.ID)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		st := r.hostState(h)
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

func (r *Run) hostState(h *Host) *hostState { return r.state[h.origin()] }

// contextWithoutCancel keeps ctx's values (the run) but not its
// cancellation, for work that must finish after an interrupt.
func contextWithoutCancel(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}
