package deploylib

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// ErrNoPreviousRelease is returned when a rollback has no older finished
// release to go back to.
var ErrNoPreviousRelease = errors.New("there are no older releases to roll back to")

// rollbackTarget chooses the release to roll back to from a host's
// listing: the finished release just before current by name, or want when
// set. Unfinished releases, symlinks and directories without a REVISION
// file are never a target.
func rollbackTarget(l releaseListing, want string) (string, error) {
	var fin []string
	for _, r := range l.finished() {
		if l.complete[r] || r == l.current {
			fin = append(fin, r)
		}
	}
	if want != "" {
		if !IsReleaseName(want) {
			return "", fmt.Errorf("ROLLBACK_RELEASE=%q is not a release name (14 digits)", want)
		}
		if !slices.Contains(l.releases, want) {
			return "", fmt.Errorf("cannot roll back: release %s does not exist", want)
		}
		if l.unfinished[want] {
			return "", fmt.Errorf("cannot roll back: release %s never finished deploying", want)
		}
		if !l.complete[want] {
			return "", fmt.Errorf("cannot roll back: release %s is not a directory with a REVISION file", want)
		}
		if want == l.current {
			return "", fmt.Errorf("cannot roll back: release %s is already current", want)
		}
		return want, nil
	}
	if l.current == "" {
		return "", fmt.Errorf("%w: current does not point at a release", ErrNoPreviousRelease)
	}
	i := slices.Index(fin, l.current)
	if i < 0 {
		// current is unfinished or missing from releases/: go back to the
		// newest finished release older than it.
		for j := len(fin) - 1; j >= 0; j-- {
			if fin[j] < l.current {
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
	want := strings.TrimSpace(os.Getenv("ROLLBACK_RELEASE"))
	var mu sync.Mutex
	targets := map[string][]string{}
	err := On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, listReleasesCmd(r.Config.DeployTo))
		if err != nil {
			return err
		}
		l, err := parseListing(out, r.Config.DeployTo)
		if err != nil {
			return err
		}
		if r.DryRun() {
			return nil
		}
		target, err := rollbackTarget(l, want)
		if err != nil {
			return err
		}
		st := r.hostState(h)
		st.rolledFrom = l.current
		mu.Lock()
		targets[target] = append(targets[target], h.String())
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if r.DryRun() {
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
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		from := r.hostState(h).rolledFrom
		// Only release names are ever removed: a hand-made
		// releases/hotfix that was current stays where it is.
		if !IsReleaseName(from) || from == target || from < target {
			return nil
		}
		return h.ExecuteCommand(ctx, archiveReleaseCmd(r.Config.DeployTo, from))
	})
}
