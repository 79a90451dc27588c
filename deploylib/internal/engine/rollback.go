package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
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

var (
	// RevertRelease chooses the release to roll back to: every release
	// host lists its releases (under the lock, in the lock's script), and
	// they must agree on the finished release before current
	// (ROLLBACK_RELEASE picks another).
	RevertRelease = &Task{name: "deploy:revert_release", doc: "chooses the release to roll back to",
		plan: func(_ context.Context, r *Run, _ *segment, _ *Task) (*step, error) {
			want := r.env.rollbackRelease
			var mu sync.Mutex
			targets := map[string][]string{}
			return &step{
				cmd:  everywhere(r.layout().ListReleases()),
				opts: captured,
				done: func(_ context.Context, h *Host, out string, err error) error {
					if err != nil {
						return err
					}
					l, err := r.layout().ParseListing(strings.TrimSpace(out))
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
					r.state.of(h).rolledFrom = l.Current
					mu.Lock()
					targets[target] = append(targets[target], h.String())
					mu.Unlock()
					return nil
				},
				finish: func(_ context.Context, err error) error {
					if err != nil {
						return err
					}
					if r.dryRun {
						r.release.set("<rollback-target>")
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
						r.release.set(t)
					}
					return nil
				},
			}, nil
		}}

	// CleanupRollback archives the release each host rolled away from,
	// when it is newer than the target, and removes it (Capistrano's
	// rolled-back-release-<name>.tar.gz). Only release names are ever
	// removed: a hand-made releases/hotfix that was current stays where it
	// is.
	CleanupRollback = &Task{name: "deploy:cleanup_rollback", doc: "archives and removes the release rolled back from",
		plan: func(_ context.Context, r *Run, seg *segment, _ *Task) (*step, error) {
			target := r.ReleaseName()
			cmds := map[*Host]shell.Command{}
			for _, h := range seg.hosts {
				from := r.state.of(h).rolledFrom
				if !remote.IsReleaseName(from) || from == target || from < target {
					continue
				}
				cmd, err := r.layout().ArchiveRelease(from)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", h, err)
				}
				cmds[h] = cmd
			}
			return removalStep(r.state, func(h *Host) (shell.Command, []string) {
				cmd, ok := cmds[h]
				if !ok {
					return shell.Command{}, nil
				}
				return cmd, []string{r.state.of(h).rolledFrom}
			}), nil
		}}
)
