package deploylib

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// ErrNoPreviousRelease is returned when a rollback has no older finished
// release to go back to.
var ErrNoPreviousRelease = errors.New("there are no older releases to roll back to")

// rollbackTarget chooses the release to roll back to from a host's
// listing: the finished release just before current by name, or want when
// set. Unfinished releases, symlinks and directories without a REVISION
// file are never a target.
func rollbackTarget(l remote.Listing, want string) (string, error) {
	var fin []string
	for _, r := range l.Finished() {
		if l.Complete[r] || r == l.Current {
			fin = append(fin, r)
		}
	}
	if want != "" {
		if !remote.IsReleaseName(want) {
			return "", fmt.Errorf("ROLLBACK_RELEASE=%q is not a release name (14 digits)", want)
		}
		if !slices.Contains(l.Releases, want) {
			return "", fmt.Errorf("cannot roll back: release %s does not exist", want)
		}
		if l.Unfinished[want] {
			return "", fmt.Errorf("cannot roll back: release %s never finished deploying", want)
		}
		if !l.Complete[want] {
			return "", fmt.Errorf("cannot roll back: release %s is not a directory with a REVISION file", want)
		}
		if want == l.Current {
			return "", fmt.Errorf("cannot roll back: release %s is already current", want)
		}
		return want, nil
	}
	if l.Current == "" {
		return "", fmt.Errorf("%w: current does not point at a release", ErrNoPreviousRelease)
	}
	i := slices.Index(fin, l.Current)
	if i < 0 {
		// current is unfinished or missing from releases/: go back to the
		// newest finished release older than it.
		for j := len(fin) - 1; j >= 0; j-- {
			if fin[j] < l.Current {
				return fin[j], nil
			}
		}
		return "", ErrNoPreviousRelease
	}
	if i == 0 {
		return "", ErrNoPreviousRelease
	}
	return fin[i-1], nil
}

// revertRelease picks the rollback target on every host and requires that
// they agree.
func revertRelease(ctx context.Context) error {
	r := CurrentRun(ctx)
	want := r.env.rollbackRelease
	var mu sync.Mutex
	targets := map[string][]string{}
	err := On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, r.layout().ListReleases())
		if err != nil {
			return err
		}
		l, err := r.layout().ParseListing(out)
		if err != nil {
			return err
		}
		if r.dryRun {
			return nil
		}
		target, err := rollbackTarget(l, want)
		if err != nil {
			return err
		}
		st := r.hostState(h)
		st.rolledFrom = l.Current
		mu.Lock()
		targets[target] = append(targets[target], h.String())
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if r.dryRun {
		r.setRelease("<rollback-target>")
		return nil
	}
	if len(targets) > 1 {
		var parts []string
		for t, hs := range targets {
			parts = append(parts, fmt.Sprintf("%s on %s", t, strings.Join(hs, ", ")))
		}
		slices.Sort(parts)
		return fmt.Errorf("hosts disagree on the release to roll back to (%s); pick one with ROLLBACK_RELEASE=<name>", strings.Join(parts, "; "))
	}
	for t := range targets {
		r.setRelease(t)
	}
	return nil
}

// cleanupRollback archives the release each host rolled away from, when it
// is newer than the target, and removes it (Capistrano's
// rolled-back-release-<name>.tar.gz).
func cleanupRollback(ctx context.Context) error {
	r := CurrentRun(ctx)
	target := r.ReleaseName()
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		from := r.hostState(h).rolledFrom
		// Only release names are ever removed: a hand-made
		// releases/hotfix that was current stays where it is.
		if !remote.IsReleaseName(from) || from == target || from < target {
			return nil
		}
		cmd, err := r.layout().ArchiveRelease(from)
		if err != nil {
			return err
		}
		return h.ExecuteCommand(ctx, cmd)
	})
}
